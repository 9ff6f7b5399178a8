#include "rules/numbers.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

namespace troupe::rules::detail {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

} // namespace

std::optional<decimal> parse_decimal(std::string_view s) {
  std::size_t i = 0;
  decimal d;
  if (i < s.size() && s[i] == '-') {
    d.negative = true;
    ++i;
  }
  std::string all;
  const std::size_t int_start = i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (i < s.size() && s[i] >= '1' && s[i] <= '9') {
    while (i < s.size() && is_digit(s[i]))
      ++i;
  } else {
    return std::nullopt;
  }
  all.append(s.substr(int_start, i - int_start));
  const auto point = static_cast<std::int64_t>(all.size());
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t frac_start = i;
    while (i < s.size() && is_digit(s[i]))
      ++i;
    if (i == frac_start)
      return std::nullopt;
    all.append(s.substr(frac_start, i - frac_start));
  }
  std::int64_t exp = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      exp_negative = s[i] == '-';
      ++i;
    }
    const std::size_t exp_start = i;
    while (i < s.size() && is_digit(s[i])) {
      // Saturate: anything this large is out of range below anyway.
      if (exp < 1000000000)
        exp = exp * 10 + (s[i] - '0');
      ++i;
    }
    if (i == exp_start)
      return std::nullopt;
    if (exp_negative)
      exp = -exp;
  }
  if (i != s.size())
    return std::nullopt;
  std::size_t lead = 0;
  while (lead < all.size() && all[lead] == '0')
    ++lead;
  std::size_t end = all.size();
  while (end > lead && all[end - 1] == '0')
    --end;
  if (lead == end)
    return decimal{};  // zero, sign dropped: -0 == 0
  d.digits = all.substr(lead, end - lead);
  d.exp = point + exp - static_cast<std::int64_t>(lead);
  if (d.exp > max_decimal_exponent || d.exp < -max_decimal_exponent)
    return std::nullopt;
  return d;
}

int compare(const decimal& a, const decimal& b) {
  const int sa = a.zero() ? 0 : (a.negative ? -1 : 1);
  const int sb = b.zero() ? 0 : (b.negative ? -1 : 1);
  if (sa != sb)
    return sa < sb ? -1 : 1;
  if (sa == 0)
    return 0;
  int magnitude;
  if (a.exp != b.exp)
    magnitude = a.exp < b.exp ? -1 : 1;
  else
    magnitude = a.digits.compare(b.digits) < 0 ? -1 : (a.digits == b.digits ? 0 : 1);
  return sa > 0 ? magnitude : -magnitude;
}

std::string shortest_text(double d) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

std::optional<number_info> classify_number(std::string_view text) {
  auto value = parse_decimal(text);
  if (!value)
    return std::nullopt;
  number_info n;
  n.value = std::move(*value);
  double d = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), d);
  if (r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(d)) {
    const std::string s = shortest_text(d);
    if (s == text) {
      n.is_double = true;
    } else {
      const auto back = parse_decimal(s);
      n.is_double = back && compare(*back, n.value) == 0;
    }
    n.as_double = d == 0 ? 0.0 : d;
  }
  return n;
}

void double_key(double d, char (&out)[double_key_size]) {
  if (d == 0)
    d = 0.0;  // -0.0 == 0.0
  out[0] = 'd';
  std::memcpy(out + 1, &d, sizeof d);
}

std::string key_of(const number_info& n) {
  if (n.is_double) {
    char k[double_key_size];
    double_key(n.as_double, k);
    return std::string(k, double_key_size);
  }
  std::string key = "x";
  if (n.value.negative)
    key.push_back('-');
  key += n.value.digits;
  key.push_back('e');
  key += std::to_string(n.value.exp);
  return key;
}

} // namespace troupe::rules::detail
