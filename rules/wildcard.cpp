#include "rules/wildcard.hpp"

#include "rules/matcher.hpp"

namespace troupe::rules::detail {

std::optional<wildcard> parse_wildcard(std::string_view text, std::string& error) {
  wildcard w;
  w.segments.emplace_back();
  bool previous_star = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      if (i + 1 == text.size() || (text[i + 1] != '*' && text[i + 1] != '\\')) {
        error = "a backslash may only escape '*' or '\\' (at byte " + std::to_string(i) + ")";
        return std::nullopt;
      }
      w.segments.back().push_back(text[++i]);
      previous_star = false;
    } else if (c == '*') {
      if (previous_star) {
        error = "consecutive '*' are not allowed (at byte " + std::to_string(i) + ")";
        return std::nullopt;
      }
      previous_star = true;
      w.segments.emplace_back();
    } else {
      w.segments.back().push_back(c);
      previous_star = false;
    }
  }
  if (w.segments.size() - 1 > limits::max_wildcard_stars) {
    error = "a wildcard may hold at most " + std::to_string(limits::max_wildcard_stars) + " '*', this one has " +
            std::to_string(w.segments.size() - 1);
    return std::nullopt;
  }
  return w;
}

bool wildcard::match(std::string_view value) const {
  const std::string& first = segments.front();
  if (segments.size() == 1)
    return value == first;
  const std::string& last = segments.back();
  if (value.size() < first.size() + last.size())
    return false;
  if (value.compare(0, first.size(), first) != 0)
    return false;
  if (value.compare(value.size() - last.size(), last.size(), last) != 0)
    return false;
  // Leftmost placement of each middle segment leaves the most room for the
  // rest, so the greedy scan finds a match whenever one exists.
  std::size_t pos = first.size();
  const std::size_t end = value.size() - last.size();
  for (std::size_t k = 1; k + 1 < segments.size(); ++k) {
    const std::string& seg = segments[k];
    if (seg.empty())
      continue;
    const auto window = value.substr(pos, end - pos);
    const auto found = window.find(seg);
    if (found == std::string_view::npos)
      return false;
    pos += found + seg.size();
  }
  return true;
}

} // namespace troupe::rules::detail
