// Helpers for the rules tests: conformance data, one-rule verdicts, and
// MessagePack built by hand for events JSON cannot express.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::rules::test {

struct conformance_case {
  std::string name;
  std::string pattern;  // JSON text as written in the file
  std::string event;    // JSON text as written in the file
  bool error = false;   // event-ruler refuses the pattern
  bool matches = false;
};

/// $TROUPE_CONFORMANCE_DIR (set by meson's test()), or "" when unset.
std::string conformance_dir();

/// Reads a .jsonl file of cases, keeping pattern and event as their source
/// text; false with `error` set when the file is missing or malformed.
bool load_cases(const std::string& path, std::vector<conformance_case>& out, std::string& error);

/// One rule against one JSON event: "match", "no match", or
/// "error: <path: message>" (pattern refused) / "bad event: <why>".
std::string verdict(std::string_view pattern, std::string_view event_json);

/// json_to_msgpack that fails the calling test on invalid JSON.
std::string msgpack_of(std::string_view json);

/// Bytes as hex pairs, each followed by a space, for failure messages.
std::string hex(std::string_view bytes);

/// Hand-made MessagePack, big-endian as the format wants.
struct mp {
  std::string bytes;
  mp& raw(std::initializer_list<int> b);
  mp& map(std::uint32_t n);
  mp& array(std::uint32_t n);
  mp& str(std::string_view s);
  mp& i64(std::int64_t v);
  mp& u64(std::uint64_t v);
  mp& f64(double v);
  mp& f32(float v);
  mp& nil();
  mp& boolean(bool b);
  mp& bin(std::string_view b);
  mp& ext(std::int8_t type, std::string_view payload);
};

} // namespace troupe::rules::test
