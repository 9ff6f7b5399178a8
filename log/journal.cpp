#include "log/journal.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <charconv>

namespace troupe::log {

namespace {

/// A decimal number that is all of `s`.
bool number(std::string_view s, unsigned long long& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

}  // namespace

bool is_journal_stream(int fd, const char* journal_stream) {
  if (!journal_stream)
    return false;
  const std::string_view v(journal_stream);
  const auto colon = v.find(':');
  unsigned long long dev = 0, ino = 0;
  if (colon == std::string_view::npos || !number(v.substr(0, colon), dev) || !number(v.substr(colon + 1), ino))
    return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

bool stdout_is_journal() { return is_journal_stream(STDOUT_FILENO, std::getenv("JOURNAL_STREAM")); }

std::string_view priority_prefix(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical: return "<2>";
    case spdlog::level::err: return "<3>";
    case spdlog::level::warn: return "<4>";
    case spdlog::level::info: return "<6>";
    default: return "<7>";
  }
}

}  // namespace troupe::log
