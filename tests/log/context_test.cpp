#include "log/context.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace troupe::log {
namespace {

struct context_case {
  const char* name;
  std::string text;
  std::vector<std::pair<std::string, std::string>> fields;  // none: no context
  std::string message;
};

class parse_context_cases : public testing::TestWithParam<context_case> {};

TEST_P(parse_context_cases, splits_the_bracket_from_the_message) {
  const auto& t = GetParam();
  const auto c = parse_context(t.text);
  std::vector<std::pair<std::string, std::string>> fields;
  for (std::size_t i = 0; i < c.size; ++i)
    fields.emplace_back(std::string(c.fields[i].key), std::string(c.fields[i].value));
  EXPECT_EQ(fields, t.fields);
  EXPECT_EQ(std::string(c.message), t.message);
}

INSTANTIATE_TEST_SUITE_P(
    log, parse_context_cases,
    testing::Values(
        context_case{"runtime_line",
                     "[service=payment rule=charge-new-bookings corr=B-42 event=0190ab attempt=2] HANDLER_ERROR: x",
                     {{"service", "payment"}, {"rule", "charge-new-bookings"}, {"corr", "B-42"}, {"event", "0190ab"},
                      {"attempt", "2"}},
                     "HANDLER_ERROR: x"},
        context_case{"service_line", "[service=seat corr=-] restore: skipping", {{"service", "seat"}, {"corr", "-"}},
                     "restore: skipping"},
        context_case{"no_bracket", "ready: services [seat], pub tcp://x", {}, "ready: services [seat], pub tcp://x"},
        context_case{"bracket_only", "[corr=B-1]", {{"corr", "B-1"}}, ""},
        context_case{"later_brackets_stay", "[corr=B-1] seen [a=b] twice", {{"corr", "B-1"}}, "seen [a=b] twice"},
        context_case{"not_key_value", "[seat] window", {}, "[seat] window"},
        context_case{"word_without_equals", "[service=x oops] m", {}, "[service=x oops] m"},
        context_case{"empty_value", "[service=x corr= event=e] m", {{"service", "x"}, {"corr", ""}, {"event", "e"}},
                     "m"},
        context_case{"empty_bracket", "[] m", {}, "[] m"},
        context_case{"upper_case_key", "[Service=x] m", {}, "[Service=x] m"},
        context_case{"repeated_key", "[corr=a corr=b] m", {}, "[corr=a corr=b] m"},
        context_case{"double_space", "[a=b  c=d] m", {}, "[a=b  c=d] m"},
        context_case{"trailing_space", "[a=b ] m", {}, "[a=b ] m"},
        context_case{"no_space_after", "[a=b]m", {}, "[a=b]m"},
        context_case{"unclosed", "[a=b c=d", {}, "[a=b c=d"},
        context_case{"value_with_equals", "[q=a=b] m", {{"q", "a=b"}}, "m"},
        context_case{"too_many_fields", "[a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9] m", {},
                     "[a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9] m"},
        context_case{"empty", "", {}, ""}),
    [](const testing::TestParamInfo<context_case>& i) { return i.param.name; });

TEST(log_context, find_gives_a_value_or_nothing) {
  const auto c = parse_context("[service=payment corr=B-42] m");
  EXPECT_EQ(find(c, "corr"), "B-42");
  EXPECT_TRUE(find(c, "rule").empty());
  EXPECT_TRUE(has(c, "service"));
  EXPECT_FALSE(has(c, "rule"));
}

}  // namespace
}  // namespace troupe::log
