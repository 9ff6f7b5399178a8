#include "log/json_text.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>
#include <string>

namespace troupe::log {
namespace {

std::string as_json(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

struct escape_case {
  const char* name;
  std::string in;
  std::string out;
};

class json_string_cases : public testing::TestWithParam<escape_case> {};

TEST_P(json_string_cases, writes) { EXPECT_EQ(as_json(GetParam().in), GetParam().out); }

INSTANTIATE_TEST_SUITE_P(
    log, json_string_cases,
    testing::Values(escape_case{"plain", "hello", R"("hello")"},
                    escape_case{"empty", "", R"("")"},
                    escape_case{"quote_and_backslash", R"(a"b\c)", R"("a\"b\\c")"},
                    escape_case{"short_escapes", "\n\r\t\b\f", R"("\n\r\t\b\f")"},
                    escape_case{"other_controls", std::string("\x01\x1f\0", 3), R"("\u0001\u001f\u0000")"},
                    escape_case{"delete_is_printable", "\x7f", "\"\x7f\""},
                    escape_case{"utf8_kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9b\xab", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9b\xab\""},
                    escape_case{"lone_continuation", "a\x80z", "\"a\xef\xbf\xbdz\""},
                    escape_case{"truncated_sequence", "a\xe2\x82", "\"a\xef\xbf\xbd\xef\xbf\xbd\""},
                    escape_case{"overlong_slash", "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""},
                    escape_case{"overlong_three", "\xe0\x80\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
                    escape_case{"surrogate", "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
                    escape_case{"past_unicode", "\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},
                    escape_case{"not_a_lead", "\xff", "\"\xef\xbf\xbd\""}),
    [](const testing::TestParamInfo<escape_case>& i) { return i.param.name; });

// Any bytes at all: what comes out parses, as the string with every
// well-formed character kept.
TEST(log_json_string, any_bytes_parse_as_one_json_string) {
  std::mt19937 rng(16);
  for (int round = 0; round < 2000; ++round) {
    std::string in(rng() % 64, '\0');
    for (auto& c : in)
      c = static_cast<char>(rng() % 256);
    const auto out = as_json(in);
    const auto parsed = nlohmann::json::parse(out, nullptr, false);
    ASSERT_TRUE(parsed.is_string()) << out;
    // Written again by nlohmann (which refuses invalid UTF-8), unchanged.
    ASSERT_NO_THROW((void)parsed.dump()) << out;
  }
}

}  // namespace
}  // namespace troupe::log
