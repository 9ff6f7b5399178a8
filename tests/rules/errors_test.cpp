// Refused patterns: each case names where the refusal must point and a
// piece of what it must say; plus the limits on patterns.
#include <gtest/gtest.h>

#include <string>

#include "rules/matcher.hpp"

namespace troupe::rules {
namespace {

struct error_case {
  const char* name;
  std::string pattern;
  const char* path;     // exact
  const char* message;  // substring
};

void PrintTo(const error_case& c, std::ostream* os) { *os << c.name; }

/// Why validate() refuses `pattern`; nothing when it accepts it.
std::optional<pattern_error> refusal(std::string_view pattern) {
  auto r = validate(pattern);
  if (r)
    return std::nullopt;
  return r.err();
}

class errors : public ::testing::TestWithParam<error_case> {};

TEST_P(errors, refused_with_path_and_reason) {
  const error_case& c = GetParam();
  auto e = refusal(c.pattern);
  ASSERT_TRUE(e.has_value()) << "accepted: " << c.pattern;
  EXPECT_EQ(e->path, c.path) << e->to_string();
  EXPECT_NE(e->message.find(c.message), std::string::npos) << e->to_string();
  // add() refuses the same way and adds nothing.
  matcher m;
  auto added = m.add("r", c.pattern);
  ASSERT_FALSE(added);
  EXPECT_FALSE(added.err().retryable());
  EXPECT_EQ(added.err().to_string(), e->to_string());
  EXPECT_EQ(m.size(), 0u);
}

std::string case_name(const ::testing::TestParamInfo<error_case>& info) { return info.param.name; }

const error_case structure_cases[] = {
    {"not_json", R"({"a":["x"])", "", "invalid JSON: line 1, column 11"},
    {"not_an_object", R"(["x"])", "", "must be a JSON object, not an array"},
    {"empty", R"({})", "", "empty object"},
    {"leaf_string", R"({"detail":{"a":"x"}})", "detail.a", "must be an array of values"},
    {"leaf_number", R"({"a":5})", "a", "not a number"},
    {"leaf_null", R"({"a":null})", "a", "not null"},
    {"empty_list", R"({"a":[]})", "a", "empty array"},
    {"empty_nested", R"({"a":{"b":{}}})", "a.b", "empty object"},
    {"nested_array", R"({"a":["x",["y"]]})", "a[1]", "nested arrays"},
    {"empty_matcher", R"({"a":[{}]})", "a[0]", "empty object is not a matcher"},
    {"two_operators", R"({"a":[{"prefix":"x","suffix":"y"}]})", "a[0]", "exactly one operator"},
    {"unknown_operator", R"({"detail":{"amount":[{"regex":"x"}]}})", "detail.amount[0].regex", "unknown operator"},
    {"lone_surrogate", R"({"a":["\ud800"]})", "", "lone high surrogate"},
    {"invalid_utf8", std::string("{\"a\":[\"\xC3\x28\"]}"), "", "invalid UTF-8"},
    {"numbers_out_of_range", R"({"a":[1e999999]})", "a[0]", "out of range"},
};
INSTANTIATE_TEST_SUITE_P(structure, errors, ::testing::ValuesIn(structure_cases), case_name);

const error_case operator_cases[] = {
    {"prefix_number", R"({"a":[{"prefix":5}]})", "a[0].prefix", "takes a string"},
    {"prefix_bad_modifier", R"({"a":[{"prefix":{"wildcard":"x"}}]})", "a[0].prefix", "equals-ignore-case"},
    {"prefix_modifier_number", R"({"a":[{"prefix":{"equals-ignore-case":1}}]})",
     "a[0].prefix.equals-ignore-case", "takes a string"},
    {"suffix_array", R"({"a":[{"suffix":["x"]}]})", "a[0].suffix", "not an array"},
    {"ignore_case_number", R"({"a":[{"equals-ignore-case":5}]})", "a[0].equals-ignore-case", "takes a string"},
    {"exactly_number", R"({"a":[{"exactly":5}]})", "a[0].exactly", "takes a string"},
    {"exists_string", R"({"a":[{"exists":"true"}]})", "a[0].exists", "true or false"},
    {"wildcard_consecutive", R"({"a":[{"wildcard":"a**b"}]})", "a[0].wildcard", "consecutive '*'"},
    {"wildcard_bad_escape", R"({"a":[{"wildcard":"a\\b"}]})", "a[0].wildcard", "may only escape"},
    {"wildcard_trailing_backslash", R"({"a":[{"wildcard":"a\\"}]})", "a[0].wildcard", "may only escape"},
    {"wildcard_too_many_stars", R"({"a":[{"wildcard":"a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r"}]})",
     "a[0].wildcard", "at most 16"},
    {"cidr_mask_32", R"({"ip":[{"cidr":"10.0.0.1/32"}]})", "ip[0].cidr", "below 32"},
    {"cidr_mask_128", R"({"ip":[{"cidr":"::1/128"}]})", "ip[0].cidr", "below 128"},
    {"cidr_no_slash", R"({"ip":[{"cidr":"10.0.0.0"}]})", "ip[0].cidr", "/prefix-length"},
    {"cidr_bad_octet", R"({"ip":[{"cidr":"256.0.0.0/8"}]})", "ip[0].cidr", "not an IPv4 or IPv6 address"},
    {"cidr_bad_mask", R"({"ip":[{"cidr":"10.0.0.0/x"}]})", "ip[0].cidr", "not a number"},
    {"cidr_number", R"({"ip":[{"cidr":10}]})", "ip[0].cidr", "takes a string"},
};
INSTANTIATE_TEST_SUITE_P(operators, errors, ::testing::ValuesIn(operator_cases), case_name);

const error_case numeric_cases[] = {
    {"not_array", R"({"b":[{"numeric":5}]})", "b[0].numeric", "numeric takes"},
    {"empty", R"({"b":[{"numeric":[]}]})", "b[0].numeric", "got 0 elements"},
    {"three_elements", R"({"b":[{"numeric":[">",1,"<"]}]})", "b[0].numeric", "got 3 elements"},
    {"bad_comparison", R"({"b":[{"numeric":["!=",5]}]})", "b[0].numeric[0]", "unknown comparison \"!=\""},
    {"string_bound", R"({"b":[{"numeric":["<","5"]}]})", "b[0].numeric[1]", "must be a number"},
    {"null_bound", R"({"b":[{"numeric":["=",null]}]})", "b[0].numeric[1]", "must be a number"},
    {"upper_first", R"({"b":[{"numeric":["<",10,">",0]}]})", "b[0].numeric[0]", "starts with its lower bound"},
    {"two_lower", R"({"b":[{"numeric":[">",0,">=",5]}]})", "b[0].numeric[2]", "ends with its upper bound"},
    {"equals_in_range", R"({"b":[{"numeric":["=",5,"<",6]}]})", "b[0].numeric", "cannot be part of a range"},
    {"empty_range", R"({"b":[{"numeric":[">=",5,"<=",5]}]})", "b[0].numeric", "lower bound must be below"},
    {"inverted_range", R"({"b":[{"numeric":[">",10,"<",5]}]})", "b[0].numeric", "lower bound must be below"},
    {"beyond_double", R"({"b":[{"numeric":["<",1e400]}]})", "b[0].numeric[1]", "exactly a double"},
    {"excess_precision", R"({"b":[{"numeric":["=",0.10000000000000001]}]})", "b[0].numeric[1]",
     "nearest is 0.1"},
    {"big_integer_not_a_double", R"({"b":[{"numeric":[">",9007199254740993]}]})", "b[0].numeric[1]",
     "exactly a double"},
};
INSTANTIATE_TEST_SUITE_P(numeric, errors, ::testing::ValuesIn(numeric_cases), case_name);

const error_case anything_but_cases[] = {
    {"null", R"({"a":[{"anything-but":null}]})", "a[0].anything-but", "not null"},
    {"boolean", R"({"a":[{"anything-but":true}]})", "a[0].anything-but", "not a boolean"},
    {"empty_list", R"({"a":[{"anything-but":[]}]})", "a[0].anything-but", "empty anything-but list"},
    {"mixed_list", R"({"a":[{"anything-but":["a",1]}]})", "a[0].anything-but[1]", "only strings or only numbers"},
    {"list_with_null", R"({"a":[{"anything-but":["a",null]}]})", "a[0].anything-but[1]", "strings or numbers"},
    {"empty_prefix", R"({"a":[{"anything-but":{"prefix":""}}]})", "a[0].anything-but.prefix", "must not be empty"},
    {"empty_suffix_in_list", R"({"a":[{"anything-but":{"suffix":["x",""]}}]})", "a[0].anything-but.suffix[1]",
     "must not be empty"},
    {"numeric", R"({"a":[{"anything-but":{"numeric":[">",1]}}]})", "a[0].anything-but.numeric", "not \"numeric\""},
    {"nested", R"({"a":[{"anything-but":{"anything-but":"x"}}]})", "a[0].anything-but.anything-but",
     "supports prefix"},
    {"two_keys", R"({"a":[{"anything-but":{"prefix":"x","suffix":"y"}}]})", "a[0].anything-but", "exactly one"},
    {"prefix_number", R"({"a":[{"anything-but":{"prefix":5}}]})", "a[0].anything-but.prefix", "takes a string"},
    {"wildcard_consecutive", R"({"a":[{"anything-but":{"wildcard":"a**"}}]})", "a[0].anything-but.wildcard",
     "consecutive"},
};
INSTANTIATE_TEST_SUITE_P(anything_but, errors, ::testing::ValuesIn(anything_but_cases), case_name);

const error_case or_cases[] = {
    {"single_branch", R"({"$or":[{"a":["x"]}]})", "$or", "at least two patterns"},
    {"empty", R"({"$or":[]})", "$or", "at least two patterns"},
    {"empty_branch", R"({"$or":[{"a":["x"]},{}]})", "$or[1]", "empty object"},
    {"object_value", R"({"$or":{"a":["x"]}})", "$or", "array of at least two patterns"},
    {"bad_branch_field", R"({"$or":[{"a":["x"]},{"b":[{"numeric":[">"]}]}]})", "$or[1].b[0].numeric", "got 1"},
    {"nested_path", R"({"detail":{"$or":[{"a":["x"]},{"b":5}]}})", "detail.$or[1].b", "must be an array"},
};
INSTANTIATE_TEST_SUITE_P(or_, errors, ::testing::ValuesIn(or_cases), case_name);

// Limits (documented in rules/matcher.hpp).

std::string nested(std::size_t depth) {
  std::string p;
  for (std::size_t k = 0; k < depth; ++k)
    p += "{\"a\":";
  p += "[\"x\"]";
  for (std::size_t k = 0; k < depth; ++k)
    p += "}";
  return p;
}

TEST(pattern_limits, size) {
  std::string big = R"({"a":[")" + std::string(limits::max_pattern_bytes, 'x') + R"("]})";
  auto e = refusal(big);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("more than the limit"), std::string::npos) << e->to_string();
  std::string fits = R"({"a":[")" + std::string(limits::max_pattern_bytes - 12, 'x') + R"("]})";
  EXPECT_FALSE(refusal(fits)) << fits.size();
}

TEST(pattern_limits, depth) {
  EXPECT_FALSE(refusal(nested(limits::max_pattern_depth)));
  auto e = refusal(nested(limits::max_pattern_depth + 1));
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("nested deeper"), std::string::npos) << e->to_string();
  // Far deeper than the JSON reader takes: refused as JSON, not a crash.
  EXPECT_TRUE(refusal(std::string(100000, '[') + std::string(100000, ']')));
}

TEST(pattern_limits, values_per_list) {
  auto list = [](std::size_t n) {
    std::string p = R"({"a":[)";
    for (std::size_t k = 0; k < n; ++k)
      p += (k ? ",\"" : "\"") + std::to_string(k) + "\"";
    return p + "]}";
  };
  EXPECT_FALSE(refusal(list(limits::max_values)));
  auto e = refusal(list(limits::max_values + 1));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->path, "a");
}

TEST(pattern_limits, or_expansion) {
  // Each $or of two branches doubles the alternatives: 2^10 fits, 2^11 not.
  auto ors = [](int n) {
    std::string p = "{";
    for (int k = 0; k < n; ++k)
      p += (k ? "," : "") + std::string("\"k") + std::to_string(k) + R"(":{"$or":[{"a":["1"]},{"b":["2"]}]})";
    return p + "}";
  };
  EXPECT_FALSE(refusal(ors(10)));
  auto e = refusal(ors(11));
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("more than 1024 alternatives"), std::string::npos) << e->to_string();
}

TEST(pattern_error, to_string_joins_path_and_message) {
  EXPECT_EQ((pattern_error{"a[0].prefix", "bad"}).to_string(), "a[0].prefix: bad");
  EXPECT_EQ((pattern_error{"", "bad"}).to_string(), "bad");
}

} // namespace
} // namespace troupe::rules
