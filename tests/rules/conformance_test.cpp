// Every case of tests/rules/conformance/patterns.jsonl, whose expected answers
// come from AWS's event-ruler, must agree. One test reports every
// disagreeing case by name; missing data is a failure, never a skip.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "rules/matcher.hpp"
#include "tests/rules/support.hpp"

namespace troupe::rules {
namespace {

std::vector<test::conformance_case> load_patterns() {
  const std::string dir = test::conformance_dir();
  if (dir.empty()) {
    ADD_FAILURE() << "TROUPE_CONFORMANCE_DIR is not set; run through `meson test`, or set it to "
                     "tests/rules/conformance";
    return {};
  }
  std::vector<test::conformance_case> cases;
  std::string error;
  if (!test::load_cases(dir + "/patterns.jsonl", cases, error))
    ADD_FAILURE() << "conformance data missing or unreadable: " << error;
  return cases;
}

std::string category(const std::string& name) { return name.substr(0, name.find('/')); }

TEST(conformance, every_case_agrees_with_event_ruler) {
  const auto cases = load_patterns();
  ASSERT_EQ(cases.size(), 586u) << "patterns.jsonl should hold 586 cases";
  std::vector<std::string> disagreements;
  std::map<std::string, std::pair<int, int>> by_category;  // agreed, total
  for (const auto& c : cases) {
    const std::string expected = c.error ? "error" : (c.matches ? "match" : "no match");
    const std::string got = test::verdict(c.pattern, c.event);
    const bool agrees = c.error ? got.rfind("error", 0) == 0 : got == expected;
    auto& tally = by_category[category(c.name)];
    ++tally.second;
    if (agrees)
      ++tally.first;
    else
      disagreements.push_back(c.name + ": expected " + expected + ", troupe says " + got + "\n    pattern " +
                              c.pattern + "\n    event   " + c.event);
  }
  std::ostringstream summary;
  for (const auto& [cat, t] : by_category)
    summary << "  " << cat << ": " << t.first << "/" << t.second << "\n";
  std::ostringstream list;
  for (const auto& d : disagreements)
    list << d << "\n";
  EXPECT_TRUE(disagreements.empty()) << disagreements.size() << " of " << cases.size()
                                     << " cases disagree:\n" << list.str() << "per category:\n" << summary.str();
}

// The same cases through one matcher holding every valid pattern at once,
// as a node compiles its rules: each case's own rule must match exactly
// when the case says so, whatever the other 500 rules share with it.
TEST(conformance, one_matcher_holding_every_rule_agrees) {
  const auto cases = load_patterns();
  ASSERT_FALSE(cases.empty());
  matcher m;
  std::vector<std::size_t> index_of(cases.size(), SIZE_MAX);
  for (std::size_t k = 0; k < cases.size(); ++k) {
    if (cases[k].error)
      continue;
    auto added = m.add(cases[k].name, cases[k].pattern);
    ASSERT_TRUE(added) << cases[k].name;
    index_of[k] = *added;
  }
  m.compile();
  std::vector<std::string> disagreements;
  for (std::size_t k = 0; k < cases.size(); ++k) {
    if (cases[k].error)
      continue;
    std::vector<std::size_t> hits;
    m.match_msgpack(test::msgpack_of(cases[k].event), hits);
    ASSERT_TRUE(std::is_sorted(hits.begin(), hits.end()));
    ASSERT_TRUE(std::adjacent_find(hits.begin(), hits.end()) == hits.end()) << "duplicate index";
    const bool got = std::binary_search(hits.begin(), hits.end(), index_of[k]);
    if (got != cases[k].matches)
      disagreements.push_back(cases[k].name);
  }
  std::ostringstream list;
  for (const auto& d : disagreements)
    list << "  " << d << "\n";
  EXPECT_TRUE(disagreements.empty()) << list.str();
}

// Refusals must say where and what, for every invalid case.
TEST(conformance, every_refusal_names_what_is_wrong) {
  const auto cases = load_patterns();
  ASSERT_FALSE(cases.empty());
  int refused = 0;
  for (const auto& c : cases) {
    if (!c.error)
      continue;
    auto valid = validate(c.pattern);
    ASSERT_FALSE(valid) << c.name;
    const auto* e = &valid.err();
    EXPECT_FALSE(e->message.empty()) << c.name;
    // Only whole-pattern problems (empty, not an object) have no path.
    if (c.pattern != "{}" && c.pattern.front() == '{') {
      EXPECT_FALSE(e->path.empty()) << c.name << ": " << e->to_string();
    }
    ++refused;
  }
  EXPECT_EQ(refused, 62);
}

} // namespace
} // namespace troupe::rules
