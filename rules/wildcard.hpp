// The `wildcard` operator: `*` stands for any run of bytes, `\*` for a
// literal star and `\\` for a backslash.
//
// A wildcard is kept as its literal segments between stars and matched
// greedily (first segment as a prefix, last as a suffix, the middle ones
// leftmost in order), which is exact for star-only globs and linear in the
// value times the pattern, so no pattern can make matching blow up. Still,
// EventBridge refuses consecutive stars and so does troupe, and a pattern
// with more than limits::max_wildcard_stars stars is refused as pathological.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::rules::detail {

struct wildcard {
  // n stars give n + 1 segments; the first and last may be empty.
  std::vector<std::string> segments;
  bool match(std::string_view value) const;
};

/// Parses pattern text; on failure sets `error` and returns nullopt.
std::optional<wildcard> parse_wildcard(std::string_view text, std::string& error);

} // namespace troupe::rules::detail
