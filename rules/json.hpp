// A small strict JSON reader for patterns and for turning JSON events into
// MessagePack.
//
// General-purpose JSON libraries lose what EventBridge semantics need: they
// collapse duplicate keys (in an event every copy counts) and turn numbers
// into doubles (3.0e2 and 0.1000000000000000055511151231257827021181583404541015625
// must keep their decimal value). This reader keeps members in order with
// duplicates, numbers as written, and each value's span in the source (the
// conformance test takes a case's pattern text from its line). It validates
// UTF-8, refuses lone surrogates and bounds nesting, and never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::rules::detail {

/// Nesting accepted by parse_json unless told otherwise.
inline constexpr std::size_t max_json_depth = 256;

struct json_value {
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool boolean = false;
  std::string text;                // string: unescaped bytes; number: as written
  std::string key;                 // the member name, when inside an object
  std::vector<json_value> items;   // array elements, or object members in order
  std::size_t begin = 0, end = 0;  // span in the source text

  bool is(kind k) const { return type == k; }
  /// The last member named `name` (last wins, as EventBridge), or null.
  const json_value* member(std::string_view name) const;
};

/// Parses exactly one JSON value (surrounding whitespace allowed). On
/// failure sets `*error` to "line L, column C: reason" and returns nullopt.
std::optional<json_value> parse_json(std::string_view text, std::string* error,
                                     std::size_t max_depth = max_json_depth);

/// Appends the MessagePack encoding of `v` (see json_to_msgpack).
void write_msgpack(const json_value& v, std::string& out);

/// Writes the MessagePack encoding of a JSON number's text at `at`, as
/// write_msgpack would (an int when it is one, a float64 when it is exactly
/// one, else the decimal ext with the text), and returns the end; nullptr,
/// with nothing written, when the text is not a JSON number. `at` must have
/// room for text.size() + 9 bytes.
char* write_msgpack_number(std::string_view text, char* at);

/// The reference conversion: parse_json, then write_msgpack. Slow (a tree of
/// strings), and what json_to_msgpack's fast path is tested against.
std::optional<std::string> json_to_msgpack_reference(std::string_view json, std::string* error = nullptr);

/// The fast path of json_to_msgpack (rules/json_simd.cpp, simdjson On
/// Demand): writes the same bytes as the reference into `out` and returns
/// true, or returns false when it cannot say (invalid JSON, a document that
/// is not an object or an array), for the reference to answer with its error.
/// Never accepts what the reference refuses (tests/rules/json_simd_test.cpp,
/// fuzz/json.cpp).
bool json_to_msgpack_fast(std::string_view json, std::string& out);

/// Names a JSON type for messages: "a string", "an object", ...
const char* describe(json_value::kind k);

} // namespace troupe::rules::detail
