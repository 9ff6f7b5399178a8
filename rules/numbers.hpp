// Numbers in patterns and events, compared by their exact decimal value.
//
// JSON keeps a number's spelling, MessagePack keeps int64, uint64 or
// float64. troupe's rule: a number is its decimal value, and a float64 on
// the wire stands for the shortest decimal that reads back as that double
// (what every JSON printer writes), so 5, 5.0, 0.5e1 and 5E0 are equal,
// 0.1 equals the float64 0.1, and 9007199254740993 differs from
// 9007199254740992. A JSON number that is neither an exact integer nor such
// a double (0.1000000000000000055511151231257827021181583404541015625, 1e400)
// travels as MessagePack ext type `decimal_ext_type` carrying its text, and
// stays different from every double. Exact matching goes through a number
// key (equal keys ⇔ equal values); `numeric` ranges compare by the same
// decimal values (rules/value_index.hpp, compare_number). event-ruler
// instead compares such numbers by spelling, and refuses to range-compare
// them (5e-324 is not > 0 there, 1e400 not > 1e300): troupe differs, see
// tests/rules/quirks_test.cpp. Like event-ruler, a numeric bound must be
// exactly a double (0.10000000000000001 is refused).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::rules::detail {

/// Decimal exponents beyond this (either way) are out of range: refused in
/// patterns, not a number in events.
inline constexpr std::int64_t max_decimal_exponent = 100000;

/// ±0.digits × 10^exp, digits without leading or trailing zeros; zero has
/// no digits (and no sign).
struct decimal {
  bool negative = false;
  std::string digits;
  std::int64_t exp = 0;
  bool zero() const { return digits.empty(); }
};

/// Parses the JSON number grammar strictly; nullopt when `text` is not a
/// JSON number or its exponent is out of range.
std::optional<decimal> parse_decimal(std::string_view text);

/// <0, 0, >0 as a is below, equal to, above b.
int compare(const decimal& a, const decimal& b);

/// The shortest decimal text that reads back as `d` (finite `d`).
std::string shortest_text(double d);

struct number_info {
  decimal value;
  bool is_double = false;  // value is exactly the shortest text of `as_double`
  double as_double = 0;
};

/// Classifies JSON number text; nullopt when it is not a number in range.
std::optional<number_info> classify_number(std::string_view text);

/// Exact-match keys: equal keys ⇔ equal values.
inline constexpr std::size_t double_key_size = 9;
void double_key(double d, char (&out)[double_key_size]);
std::string key_of(const number_info& n);

/// |v| ≤ 2^53: every such integer is exactly a double.
inline bool int_fits_double(std::int64_t v) {
  return v >= -(std::int64_t{1} << 53) && v <= (std::int64_t{1} << 53);
}

} // namespace troupe::rules::detail
