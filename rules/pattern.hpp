// A pattern compiled from JSON text into alternatives of field tests.
//
// This is where EventBridge's pattern language is checked and given its
// meaning, before any matching structure exists: each rule becomes a list of
// alternatives (its $or branches multiplied out), each alternative a set of
// field paths that must have a matching value (`fields`) and paths that must
// have none (`absent`, from exists:false). Paths join keys with '.', so a
// pattern key "a.b" and nested keys "a" then "b" name the same field, as in
// EventBridge. Duplicate keys: the last copy wins. Every refusal names the
// place in the pattern ("detail.amount[0].numeric") and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rules/ip.hpp"
#include "rules/matcher.hpp"
#include "rules/wildcard.hpp"

namespace troupe::rules::detail {

enum class test_kind : std::uint8_t {
  exact_string,        // EventBridge exact value; compared as an address if it is one
  exactly,             // {"exactly": s}, and wildcards without a star: bytes only
  exact_number,        // `key` is the number key (rules/numbers.hpp)
  exact_true,
  exact_false,
  exact_null,
  prefix,
  suffix,
  equals_ignore_case,  // `text` is folded
  prefix_ignore_case,  // `text` is folded
  suffix_ignore_case,  // `text` is folded
  wildcard,
  numeric,
  cidr,
  exists,              // exists: true (exists: false becomes an absent path)
  anything_but,        // matches a value none of `excluded` matches
};

struct value_test {
  test_kind kind = test_kind::exact_null;
  std::string text;  // string operand, number key, or wildcard source
  bool is_address = false;
  ip_address address;  // exact_string that is an IP address
  // numeric: lower and upper bounds, each optional
  bool has_lower = false, lower_inclusive = false, has_upper = false, upper_inclusive = false;
  double lower = 0, upper = 0;
  cidr_block block;
  wildcard glob;
  std::vector<value_test> excluded;  // anything_but
  std::string identity;              // canonical form: equal identities ⇔ same test
};

struct field_test {
  std::string path;
  std::vector<value_test> values;  // any of them; sorted by identity, no duplicates
  std::string identity;            // path and values
};

struct alternative {
  std::vector<field_test> fields;   // all must hold
  std::vector<std::string> absent;  // paths that must have no value
};

struct rule_pattern {
  std::vector<alternative> alternatives;
};

/// Compiles pattern text, or says what is wrong and where.
result<rule_pattern, pattern_error> compile_pattern(std::string_view json);

} // namespace troupe::rules::detail
