// EventBridge event patterns, compiled into one matcher per node.
//
// A node holds many rules; each is an EventBridge pattern (exact values,
// prefix, suffix, equals-ignore-case, anything-but, numeric, exists, cidr,
// wildcard, $or). `matcher` compiles all of them into one structure: a trie
// of field paths, and per field one index over every rule's values (hash
// tables for exact and folded strings and numbers, a table probed once per
// key length for prefixes and suffixes, a segment table for numeric
// ranges, per-prefix-length tables for CIDR blocks). Matching walks the event's MessagePack
// bytes once, skips every subtree no rule names, looks each relevant value
// up once, and counts which rules have all their fields satisfied, so the
// cost per event follows the event and the number of matches, not the
// number of rules. Semantics are EventBridge's, including array-consistent
// matching (fields taken from different elements of one array never
// combine); tests/rules/conformance_test.cpp checks them against AWS's own
// matcher, and tests/rules/quirks_test.cpp documents where troupe chose
// differently. Event bytes are untrusted: every length is checked, nesting
// and sizes are bounded, and an event that is malformed or beyond the
// limits below matches no rule (nesting past max_event_depth fails only the
// rules that look there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "wire/error.hpp"

namespace troupe::rules {

/// Limits. A pattern beyond them is refused by add() and validate() with a
/// message; an event beyond them matches no rule.
namespace limits {
/// Pattern JSON text (EventBridge caps patterns at 2,048 characters; troupe
/// allows more because its rules live in config files, not an API call).
inline constexpr std::size_t max_pattern_bytes = 16 * 1024;
/// Nested objects in a pattern, $or branches included.
inline constexpr std::size_t max_pattern_depth = 32;
/// Values in one list: a field's alternatives or an anything-but list.
inline constexpr std::size_t max_values = 1024;
/// Alternatives one rule expands to: the product of its $or branch counts
/// (an exists:false mixed with other values counts as two).
inline constexpr std::size_t max_alternatives = 1024;
/// `*` in one wildcard; more is refused as pathological.
inline constexpr std::size_t max_wildcard_stars = 16;
/// Maps and arrays nested on a path some rule looks at (subtrees no rule
/// names are skipped without recursion and only bounds-checked). Past it
/// the walk steps over the rest in the same way, and the event fails the
/// rules that look at that path or below it, and only those: a rule's
/// answer does not depend on how deep the event nests where only other
/// rules look.
inline constexpr std::size_t max_event_depth = 64;
/// Elements of one array on a path some rule looks at.
inline constexpr std::size_t max_event_array = 1u << 20;
/// Values recorded per event for array-consistency checks.
inline constexpr std::size_t max_event_records = 1u << 20;
/// Steps spent per rule alternative and event finding array elements that
/// satisfy all fields together; a rule that needs more does not match.
inline constexpr std::size_t max_consistency_steps = 100000;
} // namespace limits

/// MessagePack ext type troupe uses for a JSON number that is neither an
/// exact int64/uint64 nor exactly a float64 (see rules/numbers.hpp): the
/// payload is the number's JSON text.
inline constexpr std::int8_t decimal_ext_type = 1;

struct pattern_error {
  std::string path;     // where inside the pattern, e.g. "detail.amount[0].numeric"; "" = the whole pattern
  std::string message;  // what is wrong
  /// "path: message", or just the message when the path is empty.
  std::string to_string() const;
  /// A pattern that is wrong stays wrong.
  bool retryable() const { return false; }
};

/// Validates one pattern given as JSON text.
result<void, pattern_error> validate(std::string_view pattern_json);

/// The EventBridge top-level fields of one troupe event, without building a
/// map. The node fills this straight from its decoded wire envelope.
struct event_view {
  std::string_view id, source, detail_type;
  std::int64_t time_ms = 0;  // rendered as "YYYY-MM-DDThh:mm:ssZ" only if a rule looks at "time"
  const std::vector<std::string>* resources = nullptr;  // may be null = empty array
  std::string_view detail;  // raw MessagePack bytes of the detail map (untrusted); empty = no detail
};

namespace detail {
struct compiled;
struct rule_spec;
} // namespace detail

class matcher {
 public:
  matcher();
  ~matcher();
  matcher(matcher&&) noexcept;
  matcher& operator=(matcher&&) noexcept;
  matcher(const matcher&) = delete;
  matcher& operator=(const matcher&) = delete;

  /// Adds a rule; returns its dense index (0, 1, 2, ...) or why the pattern
  /// is refused (then nothing is added).
  result<std::size_t, pattern_error> add(std::string name, std::string_view pattern_json);

  /// Builds the matching structure from every rule added so far. match()
  /// compiles on first use if rules were added since, so calling this is
  /// only about paying the cost up front.
  void compile();

  /// Appends the indices of the matching rules, ascending, no duplicates.
  /// Never throws (but std::bad_alloc), never reads outside `ev`; const and
  /// safe to call from several threads at once (per-thread scratch space).
  void match(const event_view& ev, std::vector<std::size_t>& out) const;

  /// Same for an arbitrary event given as the MessagePack bytes of a map.
  void match_msgpack(std::string_view event_map, std::vector<std::size_t>& out) const;

  std::size_t size() const;
  const std::string& name(std::size_t index) const;

  /// For rule `index`, the exact strings it pins top-level `field`
  /// ("detail-type" or "source") to: the union over the rule's alternatives
  /// ($or branches) when every alternative requires the field to equal one
  /// of a finite set of strings; nullopt otherwise (the field is omitted on
  /// some path, or matched by prefix, anything-but, numbers, ... or by a
  /// string that is an IP address, which also matches other spellings).
  std::optional<std::vector<std::string>> pinned_values(std::size_t index, std::string_view field) const;

 private:
  const detail::compiled& ensure_compiled() const;

  struct state;
  std::unique_ptr<state> state_;
};

/// JSON text → MessagePack bytes of the same value: integers become ints,
/// numbers exactly representable as a double become float64, any other
/// number becomes ext `decimal_ext_type` with its text; object members keep
/// their order and duplicates. Returns nullopt (and the reason in `*error`)
/// on invalid JSON; throws nothing.
std::optional<std::string> json_to_msgpack(std::string_view json, std::string* error = nullptr);

/// The `troupe test-pattern` subcommand body. `pattern_arg` and `event_arg`
/// are JSON text, or "@path" to read a file. Prints "match" and returns 0,
/// or "no match" and returns 1. An invalid pattern prints the reason (path
/// and message) to `err` and returns 2; so do an unreadable file and an
/// event that is not a JSON object.
int run_test_pattern(const std::string& pattern_arg, const std::string& event_arg, std::ostream& out,
                     std::ostream& err);

} // namespace troupe::rules
