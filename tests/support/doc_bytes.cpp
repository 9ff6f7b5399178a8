#include "tests/support/doc_bytes.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace troupe::test {

namespace {

int nibble(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Appends the hex pairs of `line` (up to its `#`) to `out`; false when
/// anything else is there.
bool append_hex(std::string line, std::string& out) {
  line = line.substr(0, line.find('#'));
  std::istringstream words(line);
  for (std::string w; words >> w;) {
    if (w.size() != 2 || nibble(w[0]) < 0 || nibble(w[1]) < 0)
      return false;
    out.push_back(static_cast<char>(nibble(w[0]) << 4 | nibble(w[1])));
  }
  return true;
}

} // namespace

doc_example doc_bytes(const std::string& page, const std::string& name) {
  const auto marker = "<!-- bytes: " + name + " -->";
  const auto at = page.find(marker);
  if (at == std::string::npos)
    return {"", "no line '" + marker + "'"};
  std::istringstream lines(page.substr(at + marker.size()));
  std::string line;
  std::getline(lines, line);  // the rest of the marker's line
  if (!std::getline(lines, line) || line.rfind("```", 0) != 0)
    return {"", "the line after '" + marker + "' does not open a fenced block"};
  doc_example ex;
  while (std::getline(lines, line)) {
    if (line.rfind("```", 0) == 0)
      return ex.bytes.empty() ? doc_example{"", "example '" + name + "' is empty"} : ex;
    if (!append_hex(line, ex.bytes))
      return {"", "example '" + name + "': not hex pairs before '#': " + line};
  }
  return {"", "example '" + name + "' has no closing fence"};
}

std::string read_source_file(const std::string& relative) {
  const char* root = std::getenv("TROUPE_SOURCE_ROOT");
  if (!root)
    throw std::runtime_error("TROUPE_SOURCE_ROOT is not set: run the tests through meson");
  const auto path = std::filesystem::path(root) / relative;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty())
      out += ' ';
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

} // namespace troupe::test
