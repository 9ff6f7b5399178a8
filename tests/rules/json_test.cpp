// json_to_msgpack: the exact bytes for numbers (ints stay ints, floats
// floats, anything else a decimal ext), strings, duplicates and order; and
// refusal of invalid JSON, with a position, never an exception.
#include <gtest/gtest.h>

#include "rules/matcher.hpp"
#include "tests/rules/support.hpp"

namespace troupe::rules {
namespace {

using test::hex;
using test::mp;

struct json_case {
  const char* name;
  const char* json;
  std::string msgpack;
};

void PrintTo(const json_case& c, std::ostream* os) { *os << c.name; }

class to_msgpack : public ::testing::TestWithParam<json_case> {};

TEST_P(to_msgpack, bytes) {
  std::string why;
  auto got = json_to_msgpack(GetParam().json, &why);
  ASSERT_TRUE(got) << why;
  EXPECT_EQ(hex(*got), hex(GetParam().msgpack));
}

std::string case_name(const ::testing::TestParamInfo<json_case>& info) { return info.param.name; }

std::string decimal(std::string_view text) {
  // As msgpack-c packs it: fixext for 1/2/4/8/16 bytes, else ext8.
  std::string out;
  switch (text.size()) {
    case 1: out = "\xD4"; break;
    case 2: out = "\xD5"; break;
    case 4: out = "\xD6"; break;
    case 8: out = "\xD7"; break;
    case 16: out = "\xD8"; break;
    default:
      out = "\xC7";
      out.push_back(static_cast<char>(text.size()));
  }
  out.push_back(static_cast<char>(decimal_ext_type));
  out.append(text);
  return out;
}

const json_case cases[] = {
    {"small_int", "5", "\x05"},
    {"negative_int", "-1", "\xFF"},
    {"negative_zero_int", "-0", std::string("\x00", 1)},
    {"uint16", "300", "\xCD\x01\x2C"},
    {"int64_min", "-9223372036854775808", std::string("\xD3\x80\x00\x00\x00\x00\x00\x00\x00", 9)},
    {"uint64_max", "18446744073709551615", "\xCF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"},
    {"float_spelling_stays_float", "5.0", mp().f64(5.0).bytes},
    {"exponent_is_float", "1e2", mp().f64(100.0).bytes},
    {"negative_zero_float", "-0.0", mp().f64(-0.0).bytes},
    {"decimal_float", "301.80", mp().f64(301.8).bytes},
    {"integer_beyond_uint64_exact_double", "100000000000000000000", mp().f64(1e20).bytes},
    {"integer_beyond_uint64_inexact", "123456789012345678901", decimal("123456789012345678901")},
    {"excess_digits", "0.1000000000000000055511151231257827021181583404541015625",
     decimal("0.1000000000000000055511151231257827021181583404541015625")},
    {"float_above_2_53", "9007199254740993.0", decimal("9007199254740993.0")},
    {"beyond_double_range", "1e400", decimal("1e400")},
    {"below_double_range", "1e-400", decimal("1e-400")},
    {"max_double", "1.7976931348623157e308", mp().f64(1.7976931348623157e308).bytes},
    {"min_subnormal", "5e-324", mp().f64(5e-324).bytes},
    {"string_escapes", R"("a\"\\\/\b\f\n\r\t")", mp().str("a\"\\/\b\f\n\r\t").bytes},
    {"unicode_escapes", R"("\u00fc\ud83d\ude00")", mp().str("\xC3\xBC\xF0\x9F\x98\x80").bytes},
    {"nul_escape", R"("a\u0000b")", mp().str(std::string("a\0b", 3)).bytes},
    {"raw_utf8", "\"Z\xC3\xBCrich\"", mp().str("Z\xC3\xBCrich").bytes},
    {"literals", "[true,false,null]", mp().array(3).boolean(true).boolean(false).nil().bytes},
    {"order_and_duplicates_kept", R"({"b":1,"a":2,"b":3})", "\x83\xA1" "b\x01\xA1" "a\x02\xA1" "b\x03"},
    {"whitespace", " \t\r\n{ \"a\" : [ ] } \n", mp().map(1).str("a").array(0).bytes},
};
INSTANTIATE_TEST_SUITE_P(json, to_msgpack, ::testing::ValuesIn(cases), case_name);

TEST(to_msgpack_invalid, refused_with_a_position) {
  const char* bad[] = {
      "",
      "   ",
      "{",
      "{\"a\":1,}",
      "[1,]",
      "{'a':1}",
      "{a:1}",
      "NaN",
      "Infinity",
      "-Infinity",
      "01",
      "1.",
      ".5",
      "+1",
      "1e",
      "-",
      "\"abc",
      "\"a\tb\"",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\ud800\"",
      "\"\\udc00\"",
      "\"\\ud800\\u0041\"",
      "\"\xC3\x28\"",
      "\"\xED\xA0\x80\"",  // an encoded surrogate
      "\"\xF8\x88\x80\x80\x80\"",
      "\"\xC0\xAF\"",  // overlong
      "1 2",
      "{} x",
      "tru",
      "nulll",
  };
  for (const char* b : bad) {
    std::string why;
    EXPECT_FALSE(json_to_msgpack(b, &why)) << "accepted: " << b;
    EXPECT_EQ(why.rfind("line ", 0), 0u) << b << " -> " << why;
  }
}

TEST(to_msgpack_invalid, nesting_is_bounded) {
  std::string deep = std::string(300, '[') + std::string(300, ']');
  std::string why;
  EXPECT_FALSE(json_to_msgpack(deep, &why));
  EXPECT_NE(why.find("nested deeper"), std::string::npos) << why;
  EXPECT_FALSE(json_to_msgpack(std::string(1000000, '['), &why));
  EXPECT_TRUE(json_to_msgpack(std::string(200, '[') + std::string(200, ']')));
}

TEST(to_msgpack_invalid, error_pointer_is_optional) {
  EXPECT_FALSE(json_to_msgpack("{"));
  EXPECT_TRUE(json_to_msgpack("{}"));
}

} // namespace
} // namespace troupe::rules
