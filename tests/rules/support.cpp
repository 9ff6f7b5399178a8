#include "tests/rules/support.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "rules/json.hpp"
#include "rules/matcher.hpp"

namespace troupe::rules::test {

std::string conformance_dir() {
  const char* dir = std::getenv("TROUPE_CONFORMANCE_DIR");
  return dir ? dir : "";
}

bool load_cases(const std::string& path, std::vector<conformance_case>& out, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty())
      continue;
    std::string why;
    auto doc = detail::parse_json(line, &why);
    const std::string where = path + ":" + std::to_string(number) + ": ";
    if (!doc || !doc->is(detail::json_value::kind::object)) {
      error = where + "not a JSON object: " + why;
      return false;
    }
    conformance_case c;
    const auto* name = doc->member("name");
    const auto* pattern = doc->member("pattern");
    const auto* event = doc->member("event");
    const auto* err = doc->member("error");
    const auto* matches = doc->member("matches");
    if (!name || !pattern || !event || (!err && !matches)) {
      error = where + "a case needs name, pattern, event and matches or error";
      return false;
    }
    c.name = name->text;
    // The source text, so that number spellings and duplicate keys survive.
    c.pattern = line.substr(pattern->begin, pattern->end - pattern->begin);
    c.event = line.substr(event->begin, event->end - event->begin);
    c.error = err && err->boolean;
    c.matches = matches && matches->boolean;
    out.push_back(std::move(c));
  }
  return true;
}

std::string verdict(std::string_view pattern, std::string_view event_json) {
  matcher m;
  auto added = m.add("rule", pattern);
  if (!added)
    return "error: " + added.err().to_string();
  std::string why;
  auto bytes = json_to_msgpack(event_json, &why);
  if (!bytes)
    return "bad event: " + why;
  m.compile();
  std::vector<std::size_t> hits;
  m.match_msgpack(*bytes, hits);
  return hits.empty() ? "no match" : "match";
}

std::string msgpack_of(std::string_view json) {
  std::string why;
  auto bytes = json_to_msgpack(json, &why);
  EXPECT_TRUE(bytes.has_value()) << why << " in " << json;
  return bytes ? *bytes : std::string();
}

namespace {

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int k = bytes - 1; k >= 0; --k)
    out.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

} // namespace

mp& mp::raw(std::initializer_list<int> b) {
  for (int x : b)
    bytes.push_back(static_cast<char>(x));
  return *this;
}

mp& mp::map(std::uint32_t n) {
  if (n < 16) {
    bytes.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    bytes.push_back(static_cast<char>(0xDE));
    put_be(bytes, n, 2);
  } else {
    bytes.push_back(static_cast<char>(0xDF));
    put_be(bytes, n, 4);
  }
  return *this;
}

mp& mp::array(std::uint32_t n) {
  if (n < 16) {
    bytes.push_back(static_cast<char>(0x90 | n));
  } else if (n <= 0xFFFF) {
    bytes.push_back(static_cast<char>(0xDC));
    put_be(bytes, n, 2);
  } else {
    bytes.push_back(static_cast<char>(0xDD));
    put_be(bytes, n, 4);
  }
  return *this;
}

mp& mp::str(std::string_view s) {
  if (s.size() < 32) {
    bytes.push_back(static_cast<char>(0xA0 | s.size()));
  } else if (s.size() <= 0xFF) {
    bytes.push_back(static_cast<char>(0xD9));
    put_be(bytes, s.size(), 1);
  } else if (s.size() <= 0xFFFF) {
    bytes.push_back(static_cast<char>(0xDA));
    put_be(bytes, s.size(), 2);
  } else {
    bytes.push_back(static_cast<char>(0xDB));
    put_be(bytes, s.size(), 4);
  }
  bytes.append(s);
  return *this;
}

mp& mp::i64(std::int64_t v) {
  bytes.push_back(static_cast<char>(0xD3));
  put_be(bytes, static_cast<std::uint64_t>(v), 8);
  return *this;
}

mp& mp::u64(std::uint64_t v) {
  bytes.push_back(static_cast<char>(0xCF));
  put_be(bytes, v, 8);
  return *this;
}

mp& mp::f64(double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bytes.push_back(static_cast<char>(0xCB));
  put_be(bytes, bits, 8);
  return *this;
}

mp& mp::f32(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bytes.push_back(static_cast<char>(0xCA));
  put_be(bytes, bits, 4);
  return *this;
}

mp& mp::nil() {
  bytes.push_back(static_cast<char>(0xC0));
  return *this;
}

mp& mp::boolean(bool b) {
  bytes.push_back(static_cast<char>(b ? 0xC3 : 0xC2));
  return *this;
}

mp& mp::bin(std::string_view b) {
  bytes.push_back(static_cast<char>(0xC6));
  put_be(bytes, b.size(), 4);
  bytes.append(b);
  return *this;
}

mp& mp::ext(std::int8_t type, std::string_view payload) {
  bytes.push_back(static_cast<char>(0xC9));
  put_be(bytes, payload.size(), 4);
  bytes.push_back(static_cast<char>(type));
  bytes.append(payload);
  return *this;
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
    out.push_back(' ');
  }
  return out;
}

} // namespace troupe::rules::test
