#include "cluster/scalars.hpp"

namespace troupe::cluster {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }
bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool upper(char c) { return c >= 'A' && c <= 'Z'; }

// Advances `i` past a run of digits; true when there was at least one.
bool digits(std::string_view s, std::size_t& i) {
  const auto start = i;
  while (i < s.size() && digit(s[i]))
    ++i;
  return i > start;
}

std::size_t sign(std::string_view s) { return !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0; }

} // namespace

bool core_integer(std::string_view s) {
  std::size_t i = sign(s);
  return digits(s, i) && i == s.size();
}

bool core_float(std::string_view s) {
  std::size_t i = sign(s);
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits(s, i))
      return false;
  } else {
    if (!digits(s, i))
      return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits(s, i);
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+'))
      ++i;
    if (!digits(s, i))
      return false;
  }
  return i == s.size();
}

bool cluster_name(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!lower(c) && !upper(c) && !digit(c) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

bool node_name(std::string_view s) {
  if (s.empty() || s.size() > 32 || !lower(s[0]))
    return false;
  for (char c : s)
    if (!lower(c) && !digit(c) && c != '_' && c != '-')
      return false;
  return true;
}

} // namespace troupe::cluster
