// The matcher's API as the node and the CLI use it: indices and names,
// compiling, pinned_values for ZeroMQ subscriptions, match(event_view) on
// envelope fields, run_test_pattern, and use from several threads.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "rules/matcher.hpp"
#include "tests/rules/support.hpp"

namespace troupe::rules {
namespace {

std::vector<std::size_t> match_json(const matcher& m, std::string_view json) {
  std::vector<std::size_t> out;
  m.match_msgpack(test::msgpack_of(json), out);
  return out;
}

TEST(matcher_api, indices_are_dense_and_refusals_take_none) {
  matcher m;
  EXPECT_EQ(*m.add("first", R"({"a":["1"]})"), 0u);
  EXPECT_FALSE(m.add("bad", R"({"a":"1"})"));
  EXPECT_EQ(*m.add("second", R"({"b":["2"]})"), 1u);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.name(0), "first");
  EXPECT_EQ(m.name(1), "second");
  EXPECT_THROW(m.name(2), std::out_of_range);
}

TEST(matcher_api, match_appends_sorted_without_duplicates) {
  matcher m;
  for (int k = 0; k < 40; ++k)  // more than the small-set path, in reverse
    EXPECT_TRUE(m.add("r", k % 2 ? R"({"a":[{"prefix":"x"}]})" : R"({"a":["xy","q"],"b":[{"exists":false}]})"));
  m.compile();
  std::vector<std::size_t> out{999};
  m.match_msgpack(test::msgpack_of(R"({"a":["xy","xy","q"]})"), out);
  ASSERT_EQ(out.size(), 41u);
  EXPECT_EQ(out[0], 999u);
  for (std::size_t k = 1; k < out.size(); ++k)
    EXPECT_EQ(out[k], k - 1);
}

// Prefix and suffix keys that nest (a longer key carries the ids of the
// shorter ones), the largest span merged with the marked rules, numeric
// ranges of several conditions sharing segments: many rules together must
// answer what each rule answers alone.
TEST(matcher_api, many_rules_agree_with_each_rule_alone) {
  std::uint64_t state = 42;  // a fixed LCG: the same cases on every run
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>(state >> 33);
  };
  // Short words over three letters, so that keys and values nest and collide.
  auto word = [&](std::size_t longest) {
    std::string w;
    for (std::size_t n = 1 + next() % longest; n > 0; --n)
      w += "abc"[next() % 3];
    return w;
  };
  auto range = [&] {
    return R"({"numeric":[">",)" + std::to_string(next() % 10) + R"(,"<=",)" + std::to_string(10 + next() % 10) + "]}";
  };
  std::vector<std::string> patterns;
  for (int k = 0; k < 400; ++k) {
    switch (next() % 7) {
      case 0: patterns.push_back(R"({"a":[")" + word(5) + R"("]})"); break;
      case 1: patterns.push_back(R"({"a":[{"prefix":")" + word(5) + R"("}]})"); break;
      case 2: patterns.push_back(R"({"a":[{"suffix":")" + word(5) + R"("}]})"); break;
      case 3:
        patterns.push_back(R"({"a":[{"prefix":")" + word(4) + R"("}],"b":[{"suffix":")" + word(2) + R"("}]})");
        break;
      case 4: patterns.push_back(R"({"b":[{"prefix":")" + word(4) + R"("},")" + word(3) + R"("]})"); break;
      case 5: patterns.push_back(R"({"n":[)" + range() + "]}"); break;
      case 6: patterns.push_back(R"({"n":[)" + range() + R"(],"a":[{"prefix":")" + word(2) + R"("}]})"); break;
    }
  }
  matcher all;
  std::vector<matcher> alone(patterns.size());
  for (std::size_t k = 0; k < patterns.size(); ++k) {
    ASSERT_TRUE(all.add("r", patterns[k])) << patterns[k];
    EXPECT_TRUE(alone[k].add("r", patterns[k]));
  }
  for (int e = 0; e < 300; ++e) {
    const std::string event = R"({"a":[")" + word(7) + R"(",")" + word(7) + R"("],"b":")" + word(6) +
                              R"(","n":)" + std::to_string(next() % 25) + "}";
    std::vector<std::size_t> expected;
    for (std::size_t k = 0; k < patterns.size(); ++k)
      if (!match_json(alone[k], event).empty())
        expected.push_back(k);
    EXPECT_EQ(match_json(all, event), expected) << event;
  }
}

// When carrying shorter keys' ids would copy too many (a short prefix of
// many rules under many longer ones), every length is probed instead.
TEST(matcher_api, a_short_prefix_under_many_longer_ones) {
  matcher m;
  for (int k = 0; k < 100; ++k)
    EXPECT_TRUE(m.add("short", R"({"a":[{"prefix":"x"}]})"));
  for (int k = 0; k < 100; ++k)
    EXPECT_TRUE(m.add("long", R"({"a":[{"prefix":"x)" + std::to_string(1000 + k) + R"("}]})"));
  std::vector<std::size_t> expected;
  for (std::size_t k = 0; k < 100; ++k)
    expected.push_back(k);
  expected.push_back(100 + 7);
  EXPECT_EQ(match_json(m, R"({"a":"x1007y"})"), expected);
  expected.pop_back();
  EXPECT_EQ(match_json(m, R"({"a":"x9"})"), expected);
}

TEST(matcher_api, compiles_on_first_use_and_after_more_rules) {
  matcher m;
  EXPECT_TRUE(match_json(m, R"({"a":"1"})").empty());  // no rules yet
  EXPECT_TRUE(m.add("r0", R"({"a":["1"]})"));
  EXPECT_EQ(match_json(m, R"({"a":"1"})"), (std::vector<std::size_t>{0}));  // no compile() called
  m.compile();
  EXPECT_TRUE(m.add("r1", R"({"a":[{"prefix":"1"}]})"));
  EXPECT_EQ(match_json(m, R"({"a":"1"})"), (std::vector<std::size_t>{0, 1}));
}

TEST(matcher_api, survives_moves) {
  matcher a;
  EXPECT_TRUE(a.add("r", R"({"a":["1"]})"));
  a.compile();
  matcher b = std::move(a);
  EXPECT_EQ(match_json(b, R"({"a":"1"})"), (std::vector<std::size_t>{0}));
  matcher c;
  c = std::move(b);
  EXPECT_EQ(match_json(c, R"({"a":"1"})"), (std::vector<std::size_t>{0}));
}

TEST(matcher_api, many_matchers_on_one_thread) {
  // More matchers than the per-thread scratch cache holds, interleaved.
  std::vector<matcher> ms(7);
  for (std::size_t k = 0; k < ms.size(); ++k) {
    for (std::size_t j = 0; j <= k; ++j)
      EXPECT_TRUE(ms[k].add("r", R"({"a":[{"numeric":[">",0]}]})"));
    ms[k].compile();
  }
  for (int round = 0; round < 3; ++round)
    for (std::size_t k = 0; k < ms.size(); ++k)
      EXPECT_EQ(match_json(ms[k], R"({"a":1})").size(), k + 1);
}

TEST(matcher_api, same_answers_from_several_threads) {
  matcher m;
  EXPECT_TRUE(m.add("exact", R"({"detail":{"k":["v1"]}})"));
  EXPECT_TRUE(m.add("range", R"({"detail":{"n":[{"numeric":[">",10]}]}})"));
  EXPECT_TRUE(m.add("arrays", R"({"detail":{"i":{"x":["1"],"y":["2"]}}})"));
  EXPECT_TRUE(m.add("absent", R"({"detail":{"z":[{"exists":false}]}})"));
  m.compile();
  std::vector<std::string> events;
  for (int k = 0; k < 200; ++k)
    events.push_back(test::msgpack_of(R"({"detail":{"k":"v)" + std::to_string(k % 3) + R"(","n":)" +
                                      std::to_string(k) + R"(,"i":[{"x":"1","y":")" + std::to_string(k % 2 + 1) +
                                      R"("}])" + (k % 5 ? "" : R"(,"z":1)") + "}}"));
  std::vector<std::vector<std::size_t>> expected(events.size());
  for (std::size_t k = 0; k < events.size(); ++k)
    m.match_msgpack(events[k], expected[k]);
  std::atomic<int> mismatches{0};
  auto worker = [&] {
    std::vector<std::size_t> out;
    for (int round = 0; round < 200; ++round)
      for (std::size_t k = 0; k < events.size(); ++k) {
        out.clear();
        m.match_msgpack(events[k], out);
        if (out != expected[k])
          ++mismatches;
      }
  };
  std::thread t1(worker), t2(worker);
  t1.join();
  t2.join();
  EXPECT_EQ(mismatches.load(), 0);
}

struct pinned_case {
  const char* name;
  const char* pattern;
  std::vector<std::string> detail_type;  // empty: nullopt
};

void PrintTo(const pinned_case& c, std::ostream* os) { *os << c.name; }

class pinned : public ::testing::TestWithParam<pinned_case> {};

TEST_P(pinned, detail_type) {
  matcher m;
  auto idx = *m.add("r", GetParam().pattern);
  auto got = m.pinned_values(idx, "detail-type");
  if (GetParam().detail_type.empty())
    EXPECT_FALSE(got.has_value()) << (got ? got->size() : 0);
  else
    EXPECT_EQ(got, std::optional<std::vector<std::string>>(GetParam().detail_type));
}

const pinned_case pinned_cases[] = {
    {"one_value", R"({"detail-type":["BookingCreated"]})", {"BookingCreated"}},
    {"several_sorted", R"({"detail-type":["B","A","B"],"source":["s"]})", {"A", "B"}},
    {"exactly_pins", R"({"detail-type":[{"exactly":"A"}]})", {"A"}},
    {"or_every_branch", R"({"$or":[{"detail-type":["A"]},{"detail-type":["B"],"x":["1"]}]})", {"A", "B"}},
    {"or_outside_field", R"({"detail-type":["A"],"$or":[{"x":["1"]},{"y":["2"]}]})", {"A"}},
    {"or_branch_without_it", R"({"$or":[{"detail-type":["A"]},{"source":["s"]}]})", {}},
    {"omitted", R"({"source":["s"]})", {}},
    {"prefix", R"({"detail-type":[{"prefix":"Book"}]})", {}},
    {"anything_but", R"({"detail-type":[{"anything-but":"A"}]})", {}},
    {"exact_and_prefix", R"({"detail-type":["A",{"prefix":"B"}]})", {}},
    {"number", R"({"detail-type":[5]})", {}},
    {"null", R"({"detail-type":[null]})", {}},
    {"exists_false_alternative", R"({"detail-type":["A",{"exists":false}]})", {}},
    {"ip_address_has_other_spellings", R"({"detail-type":["10.0.0.1"]})", {}},
    {"nested_is_another_field", R"({"detail":{"detail-type":["A"]}})", {}},
    {"repeated_in_branch_takes_smaller", R"({"detail-type":["A","B"],"$or":[{"detail-type":["A"]},{"x":["1"]}]})",
     {"A", "B"}},
};
INSTANTIATE_TEST_SUITE_P(pinned_values, pinned, ::testing::ValuesIn(pinned_cases),
                         [](const ::testing::TestParamInfo<pinned_case>& i) { return std::string(i.param.name); });

TEST(pinned_values_api, source_and_bad_index) {
  matcher m;
  EXPECT_TRUE(m.add("r", R"({"source":["flight.booking"],"detail-type":["X"]})"));
  EXPECT_EQ(m.pinned_values(0, "source"), std::optional<std::vector<std::string>>({"flight.booking"}));
  EXPECT_FALSE(m.pinned_values(1, "source"));
}

class event_view_match : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* patterns[] = {
        R"({"source":["flight.booking"],"detail-type":["BookingCreated"]})",          // 0
        R"({"id":[{"prefix":"B-"}]})",                                                // 1
        R"({"time":["2017-10-02T18:43:48Z"]})",                                       // 2
        R"({"time":[{"prefix":"1969-12-31T23:59:59"}]})",                            // 3
        R"({"resources":["arn:b"]})",                                                 // 4
        R"({"detail":{"amount":[{"numeric":[">",100]}]}})",                           // 5
        R"({"detail":{"missing":[{"exists":false}]}})",                              // 6
        R"({"resources":[{"exists":false}]})",                                        // 7
        R"({"detail-type":["BookingCreated"],"detail":{"lines":{"sku":["A"],"n":[2]}}})",  // 8
        R"({"account":[{"exists":false}],"region":[{"exists":false}]})",             // 9
    };
    for (const char* p : patterns)
      ASSERT_TRUE(m_.add("r", p)) << p;
    m_.compile();
    ev_.id = "B-42";
    ev_.source = "flight.booking";
    ev_.detail_type = "BookingCreated";
    ev_.time_ms = 1506969828123;  // 2017-10-02T18:43:48.123Z
    ev_.resources = &resources_;
    detail_ = test::msgpack_of(R"({"amount":150,"lines":[{"sku":"A","n":1},{"sku":"B","n":2}]})");
    ev_.detail = detail_;
  }

  std::vector<std::size_t> hits() const {
    std::vector<std::size_t> out;
    m_.match(ev_, out);
    return out;
  }

  matcher m_;
  event_view ev_;
  std::vector<std::string> resources_{"arn:a", "arn:b"};
  std::string detail_;
};

TEST_F(event_view_match, envelope_fields_and_detail) {
  EXPECT_EQ(hits(), (std::vector<std::size_t>{0, 1, 2, 4, 5, 6, 9}));
}

TEST_F(event_view_match, time_renders_to_seconds_before_1970_too) {
  ev_.time_ms = -1;  // 1969-12-31T23:59:59.999Z
  EXPECT_EQ(hits(), (std::vector<std::size_t>{0, 1, 3, 4, 5, 6, 9}));
}

TEST_F(event_view_match, resources_null_or_empty_is_an_empty_array) {
  ev_.resources = nullptr;
  EXPECT_EQ(hits(), (std::vector<std::size_t>{0, 1, 2, 5, 6, 7, 9}));
  std::vector<std::string> none;
  ev_.resources = &none;
  EXPECT_EQ(hits(), (std::vector<std::size_t>{0, 1, 2, 5, 6, 7, 9}));
}

TEST_F(event_view_match, detail_arrays_stay_consistent) {
  detail_ = test::msgpack_of(R"({"lines":[{"sku":"B","n":2},{"sku":"A","n":2}]})");
  ev_.detail = detail_;
  EXPECT_EQ(hits(), (std::vector<std::size_t>{0, 1, 2, 4, 6, 8, 9}));
}

TEST_F(event_view_match, no_detail_is_an_empty_detail) {
  ev_.detail = {};
  EXPECT_EQ(hits(), (std::vector<std::size_t>{0, 1, 2, 4, 6, 9}));
}

TEST_F(event_view_match, malformed_detail_matches_nothing) {
  for (std::string bad : {std::string("\x81\xA1", 2), std::string("\xA1x"), detail_ + '\x00',
                          detail_.substr(0, detail_.size() - 1), std::string("\x91\x80", 2)}) {
    ev_.detail = bad;
    EXPECT_TRUE(hits().empty()) << bad.size();
  }
}

TEST_F(event_view_match, same_answer_as_the_whole_event_as_a_map) {
  const std::string whole = test::msgpack_of(
      R"({"id":"B-42","source":"flight.booking","detail-type":"BookingCreated","time":"2017-10-02T18:43:48Z",
          "resources":["arn:a","arn:b"],"detail":{"amount":150,"lines":[{"sku":"A","n":1},{"sku":"B","n":2}]}})");
  std::vector<std::size_t> out;
  m_.match_msgpack(whole, out);
  EXPECT_EQ(out, hits());
}

// run_test_pattern, the body of `troupe test-pattern`.

struct cli_result {
  int code;
  std::string out, err;
};

cli_result run(const std::string& pattern, const std::string& event) {
  std::ostringstream out, err;
  const int code = run_test_pattern(pattern, event, out, err);
  return {code, out.str(), err.str()};
}

TEST(test_pattern, match_and_no_match) {
  auto r = run(R"({"detail":{"state":["running"]}})", R"({"detail":{"state":"running"}})");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "match\n");
  EXPECT_EQ(r.err, "");
  r = run(R"({"detail":{"state":["running"]}})", R"({"detail":{"state":"stopped"}})");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "no match\n");
}

TEST(test_pattern, invalid_pattern_names_the_place) {
  auto r = run(R"({"detail":{"amount":[{"numeric":[">",1,">",2]}]}})", R"({})");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("detail.amount[0].numeric[2]"), std::string::npos) << r.err;
}

TEST(test_pattern, invalid_event) {
  auto r = run(R"({"a":["x"]})", R"({"a":)");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("invalid event JSON"), std::string::npos) << r.err;
  r = run(R"({"a":["x"]})", R"(["x"])");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("must be a JSON object"), std::string::npos) << r.err;
}

TEST(test_pattern, reads_files_with_at) {
  const std::string dir = ::testing::TempDir();
  const std::string pattern = dir + "/troupe_rules_pattern.json", event = dir + "/troupe_rules_event.json";
  std::ofstream(pattern) << R"({"a":[{"prefix":"x"}]})";
  std::ofstream(event) << R"({"a":"xyz"})";
  auto r = run("@" + pattern, "@" + event);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "match\n");
  r = run("file://" + pattern, "file://" + event);  // as the AWS CLI takes files
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "match\n");
  r = run("@" + dir + "/troupe_rules_no_such_file", "@" + event);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
  std::remove(pattern.c_str());
  std::remove(event.c_str());
}

} // namespace
} // namespace troupe::rules
