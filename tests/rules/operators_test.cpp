// Each operator of the pattern language, table-driven, one named case per
// row: pattern, event (JSON), and whether it matches.
#include <gtest/gtest.h>

#include "tests/rules/support.hpp"

namespace troupe::rules {
namespace {

struct op_case {
  const char* name;
  const char* pattern;
  const char* event;
  bool matches;
};

void PrintTo(const op_case& c, std::ostream* os) { *os << c.name; }

class operators : public ::testing::TestWithParam<op_case> {};

TEST_P(operators, match) {
  const op_case& c = GetParam();
  EXPECT_EQ(test::verdict(c.pattern, c.event), c.matches ? "match" : "no match")
      << "pattern " << c.pattern << "\nevent   " << c.event;
}

std::string case_name(const ::testing::TestParamInfo<op_case>& info) { return info.param.name; }

const op_case exact_cases[] = {
    {"string_equal", R"({"a":["x"]})", R"({"a":"x"})", true},
    {"string_case_differs", R"({"a":["x"]})", R"({"a":"X"})", false},
    {"string_second_of_list", R"({"a":["x","y"]})", R"({"a":"y"})", true},
    {"string_event_array_overlap", R"({"a":["x"]})", R"({"a":["w","x"]})", true},
    {"string_event_array_disjoint", R"({"a":["x"]})", R"({"a":["w","z"]})", false},
    {"string_nested_event_arrays", R"({"a":["x"]})", R"({"a":[["w"],[["x"]]]})", true},
    {"string_not_number", R"({"a":["5"]})", R"({"a":5})", false},
    {"number_not_string", R"({"a":[5]})", R"({"a":"5"})", false},
    {"number_int_float_spelling", R"({"a":[5]})", R"({"a":5.0})", true},
    {"number_exponent_spelling", R"({"a":[500]})", R"({"a":5e2})", true},
    {"number_negative_zero", R"({"a":[0]})", R"({"a":-0.0})", true},
    {"number_different", R"({"a":[5]})", R"({"a":5.000000001})", false},
    {"number_uint64_max", R"({"a":[18446744073709551615]})", R"({"a":18446744073709551615})", true},
    {"number_int64_min", R"({"a":[-9223372036854775808]})", R"({"a":-9223372036854775808})", true},
    {"number_big_int_vs_neighbour", R"({"a":[9007199254740993]})", R"({"a":9007199254740992})", false},
    {"number_big_int_same", R"({"a":[9007199254740993]})", R"({"a":9007199254740993})", true},
    {"number_big_int_is_double", R"({"a":[9007199254740994]})", R"({"a":9007199254740994.0})", true},
    {"number_excess_digits_same_decimal", R"({"a":[0.10000000000000001]})", R"({"a":0.100000000000000010})",
     true},
    {"number_excess_digits_vs_double", R"({"a":[0.1]})", R"({"a":0.10000000000000001})", false},
    {"number_beyond_double_range", R"({"a":[1e400]})", R"({"a":10E+399})", true},
    {"number_tiny_beyond_double_range", R"({"a":[1e-400]})", R"({"a":0})", false},
    {"true", R"({"a":[true]})", R"({"a":true})", true},
    {"true_not_string", R"({"a":[true]})", R"({"a":"true"})", false},
    {"false_not_null", R"({"a":[false]})", R"({"a":null})", false},
    {"null", R"({"a":[null]})", R"({"a":null})", true},
    {"null_not_empty_string", R"({"a":[null]})", R"({"a":""})", false},
    {"empty_string_not_null", R"({"a":[""]})", R"({"a":null})", false},
    {"missing_field", R"({"a":["x"]})", R"({"b":"x"})", false},
    {"object_is_not_a_value", R"({"a":["x"]})", R"({"a":{"b":"x"}})", false},
    {"utf8_bytes", R"({"a":["Zürich"]})", R"({"a":"Z\u00fcrich"})", true},
    {"nfd_differs", R"({"a":["Zürich"]})", R"({"a":"Zu\u0308rich"})", false},
    {"ipv4_mapped_ipv6", R"({"a":["10.0.0.1"]})", R"({"a":"::ffff:a00:1"})", true},
    {"ipv6_spellings", R"({"a":["2001:db8::1"]})", R"({"a":"2001:DB8:0:0:0:0:0:1"})", true},
    {"ipv4_leading_zero_is_no_address", R"({"a":["10.0.0.1"]})", R"({"a":"10.0.0.01"})", false},
    {"exactly_is_bytes_only", R"({"a":[{"exactly":"2001:db8::1"}]})", R"({"a":"2001:DB8::1"})", false},
    {"exactly_equal", R"({"a":[{"exactly":"x"}]})", R"({"a":"x"})", true},
    {"nested_path", R"({"a":{"b":{"c":["x"]}}})", R"({"a":{"b":{"c":"x"}}})", true},
    {"dotted_event_key", R"({"a":{"b":{"c":["x"]}}})", R"({"a":{"b.c":"x"}})", true},
    {"dotted_pattern_key", R"({"a.b":{"c":["x"]}})", R"({"a":{"b":{"c":"x"}}})", true},
    {"dotted_key_partial_segment", R"({"a":{"bc":["x"]}})", R"({"a":{"b.c":"x"}})", false},
    {"empty_key", R"({"":["x"]})", R"({"":"x"})", true},
    {"empty_nested_key", R"({"a":{"":["x"]}})", R"({"a.":"x"})", true},
    {"fields_all_required", R"({"a":["x"],"b":["y"]})", R"({"a":"x","b":"z"})", false},
    {"fields_all_present", R"({"a":["x"],"b":["y"]})", R"({"a":"x","b":"y","c":1})", true},
    {"duplicate_event_keys_each_count", R"({"a":["2"]})", R"({"a":"1","a":"2"})", true},
    {"duplicate_pattern_keys_last_wins", R"({"a":["1"],"a":["2"]})", R"({"a":"1"})", false},
};
INSTANTIATE_TEST_SUITE_P(exact, operators, ::testing::ValuesIn(exact_cases), case_name);

const op_case prefix_suffix_cases[] = {
    {"prefix_match", R"({"a":[{"prefix":"ab"}]})", R"({"a":"abc"})", true},
    {"prefix_whole", R"({"a":[{"prefix":"abc"}]})", R"({"a":"abc"})", true},
    {"prefix_longer_than_value", R"({"a":[{"prefix":"abcd"}]})", R"({"a":"abc"})", false},
    {"prefix_empty_matches_strings", R"({"a":[{"prefix":""}]})", R"({"a":""})", true},
    {"prefix_not_numbers", R"({"a":[{"prefix":"1"}]})", R"({"a":12})", false},
    {"prefix_case_sensitive", R"({"a":[{"prefix":"ab"}]})", R"({"a":"ABc"})", false},
    {"prefix_several_lengths", R"({"a":[{"prefix":"a"},{"prefix":"abc"},{"prefix":"x"}]})", R"({"a":"abz"})",
     true},
    {"prefix_utf8", R"({"a":[{"prefix":"Zü"}]})", R"({"a":"Zürich"})", true},
    {"suffix_match", R"({"a":[{"suffix":".png"}]})", R"({"a":"x.png"})", true},
    {"suffix_other", R"({"a":[{"suffix":".png"}]})", R"({"a":"x.jpg"})", false},
    {"suffix_longer_than_value", R"({"a":[{"suffix":"xx.png"}]})", R"({"a":"x.png"})", false},
    {"suffix_empty", R"({"a":[{"suffix":""}]})", R"({"a":"q"})", true},
    {"suffix_in_array", R"({"a":[{"suffix":"z"}]})", R"({"a":["x","yz"]})", true},
};
INSTANTIATE_TEST_SUITE_P(prefix_suffix, operators, ::testing::ValuesIn(prefix_suffix_cases), case_name);

const op_case ignore_case_cases[] = {
    {"ascii", R"({"a":[{"equals-ignore-case":"HeLLo"}]})", R"({"a":"hello"})", true},
    {"ascii_other", R"({"a":[{"equals-ignore-case":"hello"}]})", R"({"a":"hellO!"})", false},
    {"latin1", R"({"a":[{"equals-ignore-case":"ÉTÉ"}]})", R"({"a":"été"})", true},
    {"greek_final_sigma", R"({"a":[{"equals-ignore-case":"ΣΟΦΟΣ"}]})", R"({"a":"σοφος"})", true},
    {"greek_final_sigma_form", R"({"a":[{"equals-ignore-case":"ΣΟΦΟΣ"}]})", R"({"a":"σοφoς"})", false},
    {"kelvin_sign", R"({"a":[{"equals-ignore-case":"k"}]})", R"({"a":"\u212a"})", true},
    {"capital_sharp_s", R"({"a":[{"equals-ignore-case":"ß"}]})", R"({"a":"\u1e9e"})", true},
    {"dotted_capital_i_has_no_simple_fold", R"({"a":[{"equals-ignore-case":"i"}]})", R"({"a":"\u0130"})",
     false},
    {"astral", R"({"a":[{"equals-ignore-case":"\ud801\udc00"}]})", R"({"a":"\ud801\udc28"})", true},
    {"not_numbers", R"({"a":[{"equals-ignore-case":"1"}]})", R"({"a":1})", false},
    {"ascii_upper_event", R"({"a":[{"equals-ignore-case":"ab"}]})", R"({"a":"AB"})", true},
    {"prefix_ascii", R"({"a":[{"prefix":{"equals-ignore-case":"EVE"}}]})", R"({"a":"eventbridge"})", true},
    {"prefix_fold_changes_length", R"({"a":[{"prefix":{"equals-ignore-case":"kel"}}]})",
     R"({"a":"\u212aELVIN"})", true},
    {"prefix_too_short", R"({"a":[{"prefix":{"equals-ignore-case":"abc"}}]})", R"({"a":"AB"})", false},
    {"suffix_ascii", R"({"a":[{"suffix":{"equals-ignore-case":".PNG"}}]})", R"({"a":"x.png"})", true},
    {"suffix_utf8", R"({"a":[{"suffix":{"equals-ignore-case":"ÜBER"}}]})", R"({"a":"xxüber"})", true},
    {"suffix_other", R"({"a":[{"suffix":{"equals-ignore-case":".png"}}]})", R"({"a":"x.jpeg"})", false},
};
INSTANTIATE_TEST_SUITE_P(equals_ignore_case, operators, ::testing::ValuesIn(ignore_case_cases), case_name);

const op_case anything_but_cases[] = {
    {"string_other", R"({"a":[{"anything-but":"x"}]})", R"({"a":"y"})", true},
    {"string_excluded", R"({"a":[{"anything-but":"x"}]})", R"({"a":"x"})", false},
    {"string_vs_number", R"({"a":[{"anything-but":"5"}]})", R"({"a":5})", true},
    {"string_vs_null", R"({"a":[{"anything-but":"x"}]})", R"({"a":null})", true},
    {"string_vs_bool", R"({"a":[{"anything-but":"true"}]})", R"({"a":true})", true},
    {"missing_field", R"({"a":[{"anything-but":"x"}]})", R"({"b":"y"})", false},
    {"object_is_no_value", R"({"a":[{"anything-but":"x"}]})", R"({"a":{"b":"y"}})", false},
    {"empty_array_no_value", R"({"a":[{"anything-but":"x"}]})", R"({"a":[]})", false},
    {"array_one_not_excluded", R"({"a":[{"anything-but":"x"}]})", R"({"a":["x","y"]})", true},
    {"array_all_excluded", R"({"a":[{"anything-but":["x","y"]}]})", R"({"a":["y","x"]})", false},
    {"number_excluded_by_value", R"({"a":[{"anything-but":[100,200]}]})", R"({"a":2e2})", false},
    {"number_other", R"({"a":[{"anything-but":100}]})", R"({"a":101})", true},
    {"ip_excluded_as_address", R"({"a":[{"anything-but":"10.0.0.1"}]})", R"({"a":"::ffff:a00:1"})", false},
    {"prefix_excluded", R"({"a":[{"anything-but":{"prefix":"ab"}}]})", R"({"a":"abc"})", false},
    {"prefix_other", R"({"a":[{"anything-but":{"prefix":"ab"}}]})", R"({"a":"a"})", true},
    {"prefix_list", R"({"a":[{"anything-but":{"prefix":["ab","cd"]}}]})", R"({"a":"cde"})", false},
    {"suffix_excluded", R"({"a":[{"anything-but":{"suffix":".png"}}]})", R"({"a":"a.png"})", false},
    {"suffix_number_passes", R"({"a":[{"anything-but":{"suffix":"5"}}]})", R"({"a":5})", true},
    {"ignore_case_excluded", R"({"a":[{"anything-but":{"equals-ignore-case":"AB"}}]})", R"({"a":"ab"})", false},
    {"ignore_case_list_other", R"({"a":[{"anything-but":{"equals-ignore-case":["AB","cd"]}}]})", R"({"a":"x"})",
     true},
    {"wildcard_excluded", R"({"a":[{"anything-but":{"wildcard":"a*c"}}]})", R"({"a":"abc"})", false},
    {"wildcard_other", R"({"a":[{"anything-but":{"wildcard":"a*c"}}]})", R"({"a":"abd"})", true},
    {"wildcard_without_star", R"({"a":[{"anything-but":{"wildcard":"abc"}}]})", R"({"a":"abc"})", false},
    {"or_with_positive_value", R"({"a":[{"anything-but":"x"},"x"]})", R"({"a":"x"})", true},
    {"two_groups_either", R"({"a":[{"anything-but":"x"},{"anything-but":"y"}]})", R"({"a":"x"})", true},
    {"same_field_many_rules_share_nothing", R"({"a":[{"anything-but":["x"]}],"b":["1"]})",
     R"({"a":"y","b":"1"})", true},
};
INSTANTIATE_TEST_SUITE_P(anything_but, operators, ::testing::ValuesIn(anything_but_cases), case_name);

const op_case numeric_cases[] = {
    {"eq", R"({"a":[{"numeric":["=",5]}]})", R"({"a":5.0})", true},
    {"eq_other", R"({"a":[{"numeric":["=",5]}]})", R"({"a":5.0000001})", false},
    {"lt_edge", R"({"a":[{"numeric":["<",5]}]})", R"({"a":5})", false},
    {"le_edge", R"({"a":[{"numeric":["<=",5]}]})", R"({"a":5})", true},
    {"gt_edge", R"({"a":[{"numeric":[">",5]}]})", R"({"a":5})", false},
    {"ge_edge", R"({"a":[{"numeric":[">=",5]}]})", R"({"a":5})", true},
    {"range_inside", R"({"a":[{"numeric":[">",0,"<",1]}]})", R"({"a":0.5})", true},
    {"range_lower_edge_open", R"({"a":[{"numeric":[">",0,"<",1]}]})", R"({"a":0})", false},
    {"range_upper_edge_closed", R"({"a":[{"numeric":[">",0,"<=",1]}]})", R"({"a":1})", true},
    {"negative_range", R"({"a":[{"numeric":[">=",-10,"<",-5]}]})", R"({"a":-7})", true},
    {"strings_never", R"({"a":[{"numeric":[">",0]}]})", R"({"a":"5"})", false},
    {"null_never", R"({"a":[{"numeric":["<",1]}]})", R"({"a":null})", false},
    {"array_any_element", R"({"a":[{"numeric":[">",10]}]})", R"({"a":[1,2,11]})", true},
    {"full_double_range_top", R"({"a":[{"numeric":[">",1.7976931348623155e308]}]})",
     R"({"a":1.7976931348623157e308})", true},
    {"full_double_range_bottom", R"({"a":[{"numeric":["<",-1.7976931348623155e308]}]})",
     R"({"a":-1.7976931348623157e308})", true},
    {"subnormal_above_zero", R"({"a":[{"numeric":[">",0]}]})", R"({"a":5e-324})", true},
    {"beyond_double_range_above", R"({"a":[{"numeric":[">",1e308]}]})", R"({"a":1e309})", true},
    {"beyond_double_range_below", R"({"a":[{"numeric":["<",-1e308]}]})", R"({"a":-1e309})", true},
    {"big_int_above_bound", R"({"a":[{"numeric":[">",9007199254740992]}]})", R"({"a":9007199254740993})", true},
    {"big_int_equal_bound", R"({"a":[{"numeric":["=",9007199254740992]}]})", R"({"a":9007199254740993})", false},
    {"uint64_max_above", R"({"a":[{"numeric":[">",1e19]}]})", R"({"a":18446744073709551615})", true},
    {"int64_min_below", R"({"a":[{"numeric":["<",-9e18]}]})", R"({"a":-9223372036854775808})", true},
    {"excess_digits_not_equal", R"({"a":[{"numeric":["=",0.1]}]})",
     R"({"a":0.1000000000000000055511151231257827021181583404541015625})", false},
    {"excess_digits_in_range", R"({"a":[{"numeric":[">",0.1,"<",0.2]}]})",
     R"({"a":0.1000000000000000055511151231257827021181583404541015625})", true},
    {"two_ranges_either", R"({"a":[{"numeric":["<",0]},{"numeric":[">",10]}]})", R"({"a":11})", true},
    {"overlapping_ranges", R"({"a":[{"numeric":[">",0,"<",10]},{"numeric":[">",5,"<",20]}]})", R"({"a":7})",
     true},
    {"with_exact_string", R"({"a":["x",{"numeric":["<",0]}]})", R"({"a":"x"})", true},
};
INSTANTIATE_TEST_SUITE_P(numeric, operators, ::testing::ValuesIn(numeric_cases), case_name);

const op_case exists_cases[] = {
    {"true_string", R"({"a":[{"exists":true}]})", R"({"a":"x"})", true},
    {"true_null", R"({"a":[{"exists":true}]})", R"({"a":null})", true},
    {"true_missing", R"({"a":[{"exists":true}]})", R"({"b":1})", false},
    {"true_object", R"({"a":[{"exists":true}]})", R"({"a":{"b":1}})", false},
    {"true_empty_array", R"({"a":[{"exists":true}]})", R"({"a":[]})", false},
    {"true_array_of_values", R"({"a":[{"exists":true}]})", R"({"a":[1]})", true},
    {"false_missing", R"({"a":[{"exists":false}]})", R"({"b":1})", true},
    {"false_present", R"({"a":[{"exists":false}]})", R"({"a":0})", false},
    {"false_null_is_present", R"({"a":[{"exists":false}]})", R"({"a":null})", false},
    {"false_object", R"({"a":[{"exists":false}]})", R"({"a":{"b":1}})", true},
    {"false_empty_event", R"({"a":[{"exists":false}]})", R"({})", true},
    {"false_or_value_absent", R"({"a":[{"exists":false},"x"]})", R"({})", true},
    {"false_or_value_present", R"({"a":[{"exists":false},"x"]})", R"({"a":"x"})", true},
    {"false_or_value_other", R"({"a":[{"exists":false},"x"]})", R"({"a":"y"})", false},
    {"false_nested_parent_scalar", R"({"a":{"b":[{"exists":false}]}})", R"({"a":5})", true},
    {"false_with_other_field", R"({"a":["x"],"b":[{"exists":false}]})", R"({"a":"x","b":1})", false},
};
INSTANTIATE_TEST_SUITE_P(exists, operators, ::testing::ValuesIn(exists_cases), case_name);

const op_case cidr_cases[] = {
    {"v4_inside", R"({"a":[{"cidr":"10.0.0.0/8"}]})", R"({"a":"10.20.30.40"})", true},
    {"v4_outside", R"({"a":[{"cidr":"10.0.0.0/8"}]})", R"({"a":"11.0.0.0"})", false},
    {"v4_zero_bits", R"({"a":[{"cidr":"0.0.0.0/0"}]})", R"({"a":"255.255.255.255"})", true},
    {"v4_31", R"({"a":[{"cidr":"1.2.3.4/31"}]})", R"({"a":"1.2.3.5"})", true},
    {"v4_host_bits_masked", R"({"a":[{"cidr":"1.2.3.77/24"}]})", R"({"a":"1.2.3.1"})", true},
    {"v4_mapped_v6_event", R"({"a":[{"cidr":"10.0.0.0/8"}]})", R"({"a":"::ffff:a01:203"})", true},
    {"v4_vs_v6", R"({"a":[{"cidr":"0.0.0.0/0"}]})", R"({"a":"::1"})", false},
    {"v6_inside", R"({"a":[{"cidr":"2001:db8::/32"}]})", R"({"a":"2001:db8:1::5"})", true},
    {"v6_outside", R"({"a":[{"cidr":"2001:db8::/32"}]})", R"({"a":"2001:db9::"})", false},
    {"v6_odd_bits", R"({"a":[{"cidr":"2001:db8::/33"}]})", R"({"a":"2001:db8:8000::"})", false},
    {"v6_vs_v4", R"({"a":[{"cidr":"::/0"}]})", R"({"a":"1.2.3.4"})", false},
    {"not_an_address", R"({"a":[{"cidr":"10.0.0.0/8"}]})", R"({"a":"10.0.0"})", false},
    {"embedded_dotted_quad_is_not_an_address", R"({"a":[{"cidr":"10.0.0.0/8"}]})", R"({"a":"::ffff:10.0.0.1"})",
     false},
    {"number_is_not_an_address", R"({"a":[{"cidr":"0.0.0.0/0"}]})", R"({"a":167772161})", false},
    {"several_blocks", R"({"a":[{"cidr":"10.0.0.0/8"},{"cidr":"192.168.0.0/16"}]})", R"({"a":"192.168.4.4"})",
     true},
};
INSTANTIATE_TEST_SUITE_P(cidr, operators, ::testing::ValuesIn(cidr_cases), case_name);

const op_case wildcard_cases[] = {
    {"leading", R"({"a":[{"wildcard":"*.png"}]})", R"({"a":"x.png"})", true},
    {"trailing", R"({"a":[{"wildcard":"us-*"}]})", R"({"a":"us-east-1"})", true},
    {"middle", R"({"a":[{"wildcard":"a*z"}]})", R"({"a":"abcz"})", true},
    {"middle_no", R"({"a":[{"wildcard":"a*z"}]})", R"({"a":"abczq"})", false},
    {"several", R"({"a":[{"wildcard":"*a*b*c*"}]})", R"({"a":"xaybzc"})", true},
    {"several_wrong_order", R"({"a":[{"wildcard":"*a*b*c*"}]})", R"({"a":"cba"})", false},
    {"overlap_needs_leftmost", R"({"a":[{"wildcard":"*ab*ab*"}]})", R"({"a":"aabab"})", true},
    {"prefix_and_suffix_overlap", R"({"a":[{"wildcard":"ab*ba"}]})", R"({"a":"aba"})", false},
    {"only_star", R"({"a":[{"wildcard":"*"}]})", R"({"a":""})", true},
    {"only_star_number", R"({"a":[{"wildcard":"*"}]})", R"({"a":1})", false},
    {"escaped_star", R"({"a":[{"wildcard":"a\\*"}]})", R"({"a":"a*"})", true},
    {"escaped_star_literal_only", R"({"a":[{"wildcard":"a\\*"}]})", R"({"a":"ab"})", false},
    {"escaped_backslash", R"({"a":[{"wildcard":"a\\\\*"}]})", R"({"a":"a\\bc"})", true},
    {"no_star_is_exact", R"({"a":[{"wildcard":"abc"}]})", R"({"a":"abc"})", true},
    {"utf8", R"({"a":[{"wildcard":"*ü*"}]})", R"({"a":"Zürich"})", true},
    {"many_rules_same_prefix", R"({"a":[{"wildcard":"ab*x"},{"wildcard":"ab*y"},{"wildcard":"*q"}]})",
     R"({"a":"ab-y"})", true},
};
INSTANTIATE_TEST_SUITE_P(wildcard, operators, ::testing::ValuesIn(wildcard_cases), case_name);

const op_case or_cases[] = {
    {"top_first", R"({"$or":[{"a":["1"]},{"b":["2"]}]})", R"({"a":"1"})", true},
    {"top_second", R"({"$or":[{"a":["1"]},{"b":["2"]}]})", R"({"b":"2"})", true},
    {"top_neither", R"({"$or":[{"a":["1"]},{"b":["2"]}]})", R"({"a":"2"})", false},
    {"with_and", R"({"c":["3"],"$or":[{"a":["1"]},{"b":["2"]}]})", R"({"b":"2"})", false},
    {"nested", R"({"d":{"$or":[{"a":["1"]},{"b":["2"]}]}})", R"({"d":{"b":"2"}})", true},
    {"nested_wrong_level", R"({"d":{"$or":[{"a":["1"]},{"b":["2"]}]}})", R"({"b":"2"})", false},
    {"in_branch", R"({"$or":[{"a":["1"],"$or":[{"b":["2"]},{"c":["3"]}]},{"d":["4"]}]})", R"({"a":"1","c":"3"})",
     true},
    {"in_branch_incomplete", R"({"$or":[{"a":["1"],"$or":[{"b":["2"]},{"c":["3"]}]},{"d":["4"]}]})",
     R"({"a":"1"})", false},
    {"branch_with_exists_false", R"({"$or":[{"a":[{"exists":false}]},{"b":["2"]}]})", R"({"c":1})", true},
    {"values_make_it_a_field", R"({"$or":["x","y"]})", R"({"$or":"y"})", true},
    {"matchers_make_it_a_field", R"({"$or":[{"prefix":"a"},{"suffix":"z"}]})", R"({"$or":"az"})", true},
};
INSTANTIATE_TEST_SUITE_P(or_, operators, ::testing::ValuesIn(or_cases), case_name);

const op_case array_cases[] = {
    {"same_element", R"({"i":{"a":["1"],"b":["2"]}})", R"({"i":[{"a":"1","b":"2"}]})", true},
    {"split_elements", R"({"i":{"a":["1"],"b":["2"]}})", R"({"i":[{"a":"1"},{"b":"2"}]})", false},
    {"later_element", R"({"i":{"a":["1"],"b":["2"]}})", R"({"i":[{"a":"1"},{"a":"1","b":"2"}]})", true},
    {"sibling_arrays_combine", R"({"x":{"a":["1"]},"y":{"b":["2"]}})", R"({"x":[{"a":"1"}],"y":[{"b":"2"}]})",
     true},
    {"outer_scalar_combines", R"({"s":["1"],"i":{"a":["2"]}})", R"({"s":"1","i":[{"a":"0"},{"a":"2"}]})", true},
    {"nested_consistent", R"({"o":{"s":["1"],"l":{"k":["2"]}}})", R"({"o":[{"s":"1","l":[{"k":"0"},{"k":"2"}]}]})",
     true},
    {"nested_inconsistent", R"({"o":{"s":["1"],"l":{"k":["2"]}}})",
     R"({"o":[{"s":"1","l":[{"k":"0"}]},{"s":"0","l":[{"k":"2"}]}]})", false},
    {"array_of_arrays_same", R"({"i":{"a":["1"],"b":["2"]}})", R"({"i":[[{"a":"1","b":"2"}]]})", true},
    {"array_of_arrays_split", R"({"i":{"a":["1"],"b":["2"]}})", R"({"i":[[{"a":"1"}],[{"b":"2"}]]})", false},
    {"exists_false_same_element", R"({"i":{"a":["1"],"b":[{"exists":false}]}})", R"({"i":[{"a":"1","b":0}]})",
     false},
    {"exists_false_other_element", R"({"i":{"a":["1"],"b":[{"exists":false}]}})",
     R"({"i":[{"a":"1","b":0},{"a":"1"}]})", true},
    {"exists_false_both_orders", R"({"i":{"z":["1"],"b":[{"exists":false}]}})", R"({"i":[{"z":"1"},{"b":0}]})",
     true},
    {"exists_false_only_field", R"({"i":{"b":[{"exists":false}]}})", R"({"i":[{"c":1},{"b":0}]})", false},
    {"primitive_array_with_sibling", R"({"h":{"t":["p"],"n":["w1"]}})",
     R"({"h":[{"n":"w1","t":["d","p"]},{"n":"w2","t":["p"]}]})", true},
    {"primitive_array_split", R"({"h":{"t":["p"],"n":["w1"]}})", R"({"h":[{"n":"w1","t":["d"]},{"n":"w2","t":["p"]}]})",
     false},
    {"or_branches_keep_consistency", R"({"i":{"$or":[{"a":["1"]},{"b":["2"]}],"c":["3"]}})",
     R"({"i":[{"a":"1"},{"c":"3"}]})", false},
};
INSTANTIATE_TEST_SUITE_P(arrays, operators, ::testing::ValuesIn(array_cases), case_name);

} // namespace
} // namespace troupe::rules
