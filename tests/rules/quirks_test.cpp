// tests/rules/conformance/quirks.jsonl: 30 cases where event-ruler's answer
// is an artefact of how it is built. troupe chooses the plain meaning of
// the pattern; this test pins troupe's answer for each case, says why, and
// marks where it differs from event-ruler. The code that decides carries a
// comment pointing here.
#include <gtest/gtest.h>

#include <map>

#include "tests/rules/support.hpp"

namespace troupe::rules {
namespace {

struct answer {
  const char* verdict;  // "match", "no match" or "error"
  const char* why;
};

// Keyed by case name. "differs" in `why` marks a departure from event-ruler.
const std::map<std::string, answer>& troupe_answers() {
  static const std::map<std::string, answer> answers = {
      // Numbers compare by decimal value (rules/numbers.hpp).
      {"exact/number-beyond-double-precision/same-literal", {"match", "same value, kept exactly as uint64"}},
      {"exact/number-beyond-double-precision/same-value-float-spelling",
       {"match", "differs: 12345678901234567890.0 is the same number; event-ruler compares spellings once a "
                 "number is not exactly a double"}},
      {"exact/number-beyond-double-precision/nearest-double-value", {"no match", "a different integer"}},
      {"exact/number-subnormal/same-literal", {"match", "same value"}},
      {"exact/number-subnormal/java-tostring-spelling",
       {"no match", "4.9e-324 and 5e-324 are different decimals (both round to the same double)"}},
      {"numeric/gt/smallest-subnormal",
       {"match", "differs: 5e-324 is the smallest positive double, and it is above 0"}},
      {"numeric/large/beyond-double-range",
       {"match", "differs: 1e400 travels as an exact decimal and is above 1e300"}},
      {"numeric/integer-precision/two-pow-53-plus-one", {"no match", "2^53+1 is not 2^53 (exact int64 compare)"}},
      {"invalid/numeric-excess-precision",
       {"error", "a numeric bound must be exactly a double; 0.10000000000000001 is not"}},
      // Addresses (rules/ip.hpp).
      {"exact/ipv4-literal-string/ipv6-with-same-leading-bits-quirk",
       {"no match", "differs: a00:1:: is an IPv6 address, not 10.0.0.1"}},
      {"exact/ipv6-literal-string/expanded-spelling", {"match", "the same address, written out"}},
      {"exact/ipv6-literal-string/uppercase-spelling", {"match", "the same address, upper-case hex"}},
      {"cidr/ipv4-0/ipv6-address-quirk", {"no match", "differs: an IPv4 block holds no IPv6 address"}},
      {"cidr/cross-family-quirk/ipv6-with-same-leading-32-bits",
       {"no match", "differs: an IPv4 block holds no IPv6 address"}},
      {"cidr/cross-family-quirk/ipv6-with-other-leading-32-bits", {"no match", "not in the block either way"}},
      {"cidr/cross-family-quirk/ipv6-cidr-vs-ipv4-address",
       {"no match", "differs: an IPv6 block holds no IPv4 address"}},
      // exists:false inside arrays is checked against the element the other
      // fields matched in, whatever the field names' sort order.
      {"arrays/exists-false-sorting-before-sibling/only-element-without-field", {"match", "discount absent"}},
      {"arrays/exists-false-sorting-before-sibling/only-element-with-field", {"no match", "discount present"}},
      {"arrays/exists-false-sorting-before-sibling/other-element-without-field",
       {"match", "differs: the second element has sku A1 and no discount (as the sorting-after cases)"}},
      {"arrays/exists-false-sorting-before-sibling/field-only-in-other-element",
       {"match", "differs: the discount is in another element than sku A1 (as the sorting-after cases)"}},
      // equals-ignore-case is Unicode simple case folding (rules/case_fold.hpp).
      {"equals-ignore-case/sharp-s/same", {"match", "ß folds to itself"}},
      {"equals-ignore-case/sharp-s/upper-SS",
       {"no match", "differs: simple folding keeps ß one letter; SS is two"}},
      {"equals-ignore-case/sharp-s/lower-ss", {"no match", "ss is not ß"}},
      {"equals-ignore-case/titlecase-char-quirk/same-titlecase-char",
       {"match", "differs: ǅ equals itself ignoring case"}},
      {"equals-ignore-case/titlecase-char-quirk/lowercase-char", {"match", "ǅ and ǆ fold alike"}},
      {"equals-ignore-case/titlecase-char-quirk/uppercase-char", {"match", "ǅ and Ǆ fold alike"}},
      {"equals-ignore-case/astral-plane-char-quirk/same-emoji",
       {"match", "differs: x😀 and X😀 differ only in case"}},
      {"equals-ignore-case/astral-plane-char-quirk/question-marks",
       {"no match", "differs: ?? is not an emoji (event-ruler folds UTF-16 halves to '?')"}},
      // "$or" with an object value: event-ruler's legacy reading makes "$or"
      // a field name; troupe refuses it as a malformed $or (rules/pattern.cpp).
      {"or/legacy-object-value-is-field-name/literal-dollar-or-key",
       {"error", "differs: $or takes an array of patterns"}},
      {"or/legacy-object-value-is-field-name/plain-key", {"error", "differs: $or takes an array of patterns"}},
  };
  return answers;
}

TEST(quirks, troupe_answers_every_quirk_as_documented) {
  const std::string dir = test::conformance_dir();
  ASSERT_FALSE(dir.empty()) << "TROUPE_CONFORMANCE_DIR is not set";
  std::vector<test::conformance_case> cases;
  std::string error;
  ASSERT_TRUE(test::load_cases(dir + "/quirks.jsonl", cases, error)) << error;
  ASSERT_EQ(cases.size(), 30u);
  int differs = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto it = troupe_answers().find(c.name);
    ASSERT_NE(it, troupe_answers().end()) << "no documented answer for this quirk";
    const std::string got = test::verdict(c.pattern, c.event);
    const std::string want = it->second.verdict;
    if (want == "error")
      EXPECT_EQ(got.rfind("error", 0), 0u) << got;
    else
      EXPECT_EQ(got, want) << it->second.why;
    const std::string event_ruler = c.error ? "error" : (c.matches ? "match" : "no match");
    const bool marked = std::string(it->second.why).rfind("differs", 0) == 0;
    EXPECT_EQ(marked, want != event_ruler) << "the 'differs' mark must say whether event-ruler answers "
                                           << event_ruler;
    differs += marked;
  }
  EXPECT_EQ(differs, 15);
}

} // namespace
} // namespace troupe::rules
