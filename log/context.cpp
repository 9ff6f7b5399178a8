#include "log/context.hpp"

#include <algorithm>

namespace troupe::log {

namespace {

bool key_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

bool valid_key(std::string_view k) {
  if (k.empty() || k.size() > 32)
    return false;
  for (const char c : k)
    if (!key_char(c))
      return false;
  return true;
}

}  // namespace

bool has(const line_context& c, std::string_view key) {
  for (std::size_t i = 0; i < c.size; ++i)
    if (c.fields[i].key == key)
      return true;
  return false;
}

line_context parse_context(std::string_view text) {
  line_context none;
  none.message = text;
  if (text.size() < 2 || text.front() != '[')
    return none;
  const auto close = text.find(']');
  if (close == std::string_view::npos || (close + 1 < text.size() && text[close + 1] != ' '))
    return none;
  line_context c;
  const auto inside = text.substr(1, close - 1);
  std::size_t at = 0;
  while (at < inside.size()) {
    const auto end = std::min(inside.find(' ', at), inside.size());
    const auto word = inside.substr(at, end - at);
    const auto eq = word.find('=');
    if (eq == std::string_view::npos || c.size == line_context::max_fields)
      return none;
    const auto key = word.substr(0, eq), value = word.substr(eq + 1);
    if (!valid_key(key) || has(c, key))
      return none;
    c.fields[c.size++] = {key, value};
    at = end + 1;
  }
  if (c.size == 0 || inside.back() == ' ')
    return none;
  c.message = close + 2 <= text.size() ? text.substr(close + 2) : std::string_view();
  return c;
}

std::string_view find(const line_context& c, std::string_view key) {
  for (std::size_t i = 0; i < c.size; ++i)
    if (c.fields[i].key == key)
      return c.fields[i].value;
  return {};
}

}  // namespace troupe::log
