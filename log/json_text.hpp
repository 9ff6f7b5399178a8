// JSON strings for log lines, written by hand: a log line is formatted on
// the thread that logs, so this does no allocation beyond the output's.
#pragma once

#include <string>
#include <string_view>

namespace troupe::log {

/// Appends `s` to `out` as a JSON string, quotes included. Whatever the
/// bytes, the result is valid JSON and valid UTF-8: `"` and `\` are
/// escaped, control characters written as \n, \t, ... or \u00XX, and a
/// byte that does not begin or continue a well-formed UTF-8 sequence
/// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF)
/// becomes U+FFFD, one per byte.
void append_json_string(std::string& out, std::string_view s);

}  // namespace troupe::log
