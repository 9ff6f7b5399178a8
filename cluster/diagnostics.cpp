#include "cluster/diagnostics.hpp"

#include <yaml-cpp/yaml.h>

namespace troupe::cluster {

namespace {

// The length of the UTF-8 sequence at `s[i]`, or 0 when none starts there.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(i);
  if (b < 0x80)
    return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    if (b == 0xE0)
      lo = 0xA0;  // overlong
    if (b == 0xED)
      hi = 0x9F;  // surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    if (b == 0xF0)
      lo = 0x90;  // overlong
    if (b == 0xF4)
      hi = 0x8F;  // past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size() || byte(i + 1) < lo || byte(i + 1) > hi)
    return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF)
      return 0;
  return n;
}

} // namespace

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto n = utf8_sequence(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

std::string printable(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const auto n = utf8_sequence(s, i);
    if (n == 0 || b < 0x20 || b == 0x7F) {
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 0xF];
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string problem::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + reason;
}

void diagnostics::add(const YAML::Mark& at, std::string reason) {
  if (at.is_null())
    add(0, 0, std::move(reason));
  else
    add(at.line + 1, at.column + 1, std::move(reason));
}

void diagnostics::add(const YAML::Node& at, std::string reason) {
  // An absent node has no position, and asking yaml-cpp for one throws.
  if (at.IsDefined())
    add(at.Mark(), std::move(reason));
  else
    add(0, 0, std::move(reason));
}

void diagnostics::add(int line, int column, std::string reason) {
  problems_.push_back(problem{file_, line, column, printable(reason)});
}

std::string diagnostics::to_string() const {
  std::string out;
  for (const auto& p : problems_) {
    out += p.to_string();
    out += '\n';
  }
  return out;
}

} // namespace troupe::cluster
