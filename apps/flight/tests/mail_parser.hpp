// A strict reader of the RFC 5322 messages the notification service writes,
// so that tests check the bytes on disk rather than trust the writer.
#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace troupe::flight::test {

struct parsed_mail {
  std::vector<std::pair<std::string, std::string>> headers;  // unfolded, in order
  std::vector<std::string> header_lines;                    // physical lines, without CRLF
  std::string body;

  std::size_t count(const std::string& name) const {
    std::size_t n = 0;
    for (const auto& h : headers)
      n += h.first == name;
    return n;
  }
  std::string get(const std::string& name) const {
    for (const auto& h : headers)
      if (h.first == name)
        return h.second;
    return "(no " + name + ")";
  }
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Parses `raw`; on a violation returns nullopt and says why in `why`.
inline std::optional<parsed_mail> parse_mail(const std::string& raw, std::string& why) {
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) {
      why = "bare LF at byte " + std::to_string(i);
      return std::nullopt;
    }
    if (raw[i] == '\r' && (i + 1 == raw.size() || raw[i + 1] != '\n')) {
      why = "bare CR at byte " + std::to_string(i);
      return std::nullopt;
    }
  }
  const auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos) {
    why = "no empty line after the headers";
    return std::nullopt;
  }
  parsed_mail m;
  m.body = raw.substr(end + 4);
  const auto head = raw.substr(0, end + 2);
  std::size_t pos = 0;
  while (pos < head.size()) {
    const auto eol = head.find("\r\n", pos);
    const auto line = head.substr(pos, eol - pos);
    pos = eol + 2;
    m.header_lines.push_back(line);
    if (line.size() > 998) {
      why = "header line over 998 characters";
      return std::nullopt;
    }
    for (unsigned char c : line)
      if (c >= 0x80 || (c < 0x20 && c != '\t')) {
        why = "non-ASCII or control byte in header line: " + line;
        return std::nullopt;
      }
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      if (m.headers.empty()) {
        why = "continuation line before any header";
        return std::nullopt;
      }
      bool blank = line.find_first_not_of(" \t") == std::string::npos;
      if (blank) {
        why = "whitespace-only continuation line";
        return std::nullopt;
      }
      m.headers.back().second += line;  // unfolding removes only the CRLF
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      why = "not a header line: " + line;
      return std::nullopt;
    }
    const auto name = line.substr(0, colon);
    for (unsigned char c : name)
      if (c <= 32 || c >= 127) {
        why = "bad header name: " + name;
        return std::nullopt;
      }
    auto value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ')
      value.erase(0, 1);
    m.headers.emplace_back(name, value);
  }
  return m;
}

inline std::string base64_decode(const std::string& in) {
  static const std::string table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned v = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=')
      break;
    const auto p = table.find(c);
    if (p == std::string::npos)
      continue;
    v = (v << 6) | static_cast<unsigned>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((v >> bits) & 0xff);
    }
  }
  return out;
}

/// Decodes a run of `=?utf-8?B?...?=` words (whitespace between them is dropped).
inline std::string decode_words(const std::string& s) {
  std::string out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto start = s.find("=?utf-8?B?", pos);
    if (start == std::string::npos)
      break;
    const auto stop = s.find("?=", start + 10);
    out += base64_decode(s.substr(start + 10, stop - start - 10));
    pos = stop + 2;
  }
  return out;
}

} // namespace troupe::flight::test
