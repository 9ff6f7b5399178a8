#include "actors/runtime/answer_resolution.hpp"

#include <gtest/gtest.h>

#include "actors/msgpack_json.hpp"
#include "wire/limits.hpp"
#include "tests/runtime/fixtures.hpp"

namespace troupe::runtime {
namespace {

using test::answer_to;
using test::event_of;

struct resolver_fixture {
  cluster::config cfg = test::small_cluster();
  std::mt19937_64 rng{1};
  rule_metrics metrics;
  bus_counters counters;
  answer_resolver resolver{"down",
                           [this](const std::string& r) -> const cluster::rule_spec* {
                             for (const auto& x : cfg.rules)
                               if (x.name == r)
                                 return &x;
                             return nullptr;
                           },
                           rng, metrics, counters, *test::quiet_log()};

  delivery delivery_for(const char* rule, const char* target, int attempt = 1, std::int64_t inbox = 0) {
    delivery d{inbox, target, rule, event_of("up", rule == std::string("r-a") ? "A" : "B", 1, 1), nullptr, {}};
    d.retry.attempt = attempt;
    d.retry.first_ms = 5;
    return d;
  }
};

TEST(answer_resolution, an_ok_answer_brings_its_events_and_state) {
  resolver_fixture f;
  auto a = answer_to(f.delivery_for("r-b", "b", 1, 42), outcome::ok,
                     {{"Done", {{"x", 1}}, ""}, {"Started", {{"y", 2}}, "new-saga"}});
  a.changes.push_back({"t", "k", nlohmann::json{{"v", 1}}});
  commit_batch w;
  f.resolver.resolve(a, 1000, w);
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[0]->source, "troupe.b");
  EXPECT_EQ(w.events[0]->detail_type, "Done");
  EXPECT_EQ(w.events[0]->correlation_id, "corr-1");  // carried forward
  EXPECT_EQ(w.events[0]->causation_id, "up-B-1");    // the event handled
  EXPECT_EQ(w.events[1]->correlation_id, "new-saga");
  ASSERT_EQ(w.done.size(), 1u);
  EXPECT_EQ(w.done[0].inbox_id, 42);
  EXPECT_EQ(w.done[0].changes.size(), 1u);
  EXPECT_EQ(f.metrics.of("r-b").successful_attempts, 1u);
  EXPECT_EQ(f.counters.emitted, 2u);
}

TEST(answer_resolution, each_failure_goes_where_its_policy_says) {
  struct failure_case {
    const char* name;
    const char* rule;
    outcome status;
    int attempt;
    std::int64_t inbox;
    bool not_run;
    // expected
    std::size_t parked, rescheduled, letters, done;
    int next_attempt;
    const char* exhausted;  // in the dead letter
  };
  const std::vector<failure_case> cases = {
      {"transient, held: parked in the inbox", "r-b", outcome::transient, 1, 0, false, 1, 0, 0, 0, 2, ""},
      {"transient, from the inbox: rescheduled", "r-b", outcome::transient, 2, 9, false, 0, 1, 0, 0, 3, ""},
      {"out of retries: a dead letter", "r-b", outcome::transient, 3, 9, false, 0, 0, 1, 1, 0,
       "MaximumRetryAttempts"},
      {"not run: the attempt is kept", "r-b", outcome::transient, 3, 9, true, 0, 1, 0, 0, 3, ""},
      {"permanent: straight to the DLQ", "r-b", outcome::permanent, 1, 0, false, 0, 0, 1, 0, 0, "none"},
      {"permanent without a DLQ: dropped", "r-a", outcome::permanent, 1, 0, false, 0, 0, 0, 0, 0, ""},
  };
  for (const auto& c : cases) {
    resolver_fixture f;
    auto a = answer_to(f.delivery_for(c.rule, c.rule == std::string("r-a") ? "a" : "b", c.attempt, c.inbox),
                       c.status);
    a.not_run = c.not_run;
    commit_batch w;
    f.resolver.resolve(a, 1000, w);
    EXPECT_EQ(w.parked.size(), c.parked) << c.name;
    EXPECT_EQ(w.rescheduled.size(), c.rescheduled) << c.name;
    EXPECT_EQ(w.events.size(), c.letters) << c.name;
    EXPECT_EQ(w.done.size(), c.done) << c.name;
    for (const auto* v : {&w.parked, &w.rescheduled})
      for (const auto& d : *v) {
        EXPECT_EQ(d.retry.attempt, c.next_attempt) << c.name;
        EXPECT_GE(d.retry.due_ms, 1000) << c.name;
        EXPECT_LE(d.retry.due_ms, 1000 + 20) << c.name;  // the rule's cap
        EXPECT_FALSE(d.hold) << c.name;
      }
    if (c.letters) {
      const auto& ev = *w.events[0];
      EXPECT_EQ(ev.detail_type, cluster::dead_letter_type) << c.name;
      EXPECT_EQ(ev.causation_id, "up-B-1") << c.name;
      auto detail = json_from_msgpack(ev.detail);
      EXPECT_EQ(detail["EXHAUSTED_RETRY_CONDITION"], c.exhausted) << c.name << detail.dump();
      EXPECT_EQ(detail["RETRY_ATTEMPTS"], c.attempt - 1) << c.name;
      EXPECT_EQ(detail["RULE_ARN"], c.rule) << c.name;
      EXPECT_EQ(f.metrics.of(c.rule).sent_to_dlq, 1u) << c.name;
    }
    const bool failed = c.parked + c.rescheduled == 0;
    EXPECT_EQ(f.metrics.of(c.rule).failed, failed ? 1u : 0u) << c.name;
  }
}

TEST(answer_resolution, an_emitted_event_that_cannot_be_sent_fails_the_answer) {
  struct bad_case {
    const char* name;
    event_out out;
  };
  const std::vector<bad_case> cases = {
      {"a detail that is not an object", {"Done", nlohmann::json::array({1, 2}), ""}},
      {"an empty detail-type", {"", {{"x", 1}}, ""}},
      {"a detail over 256 KiB", {"Done", {{"x", std::string(300 * 1024, 'x')}}, ""}},
  };
  for (const auto& c : cases) {
    resolver_fixture f;
    auto a = answer_to(f.delivery_for("r-b", "b", 1, 7), outcome::ok, {{"Fine", {{"y", 1}}, ""}, c.out});
    a.changes.push_back({"t", "k", nlohmann::json{{"v", 1}}});
    commit_batch w;
    f.resolver.resolve(a, 1000, w);
    // Neither event nor state commits; a dead letter says why.
    ASSERT_EQ(w.events.size(), 1u) << c.name;
    EXPECT_EQ(w.events[0]->detail_type, cluster::dead_letter_type) << c.name;
    auto detail = json_from_msgpack(w.events[0]->detail);
    EXPECT_EQ(detail["ERROR_CODE"], invalid_event_code) << c.name;
    ASSERT_EQ(w.done.size(), 1u) << c.name;
    EXPECT_TRUE(w.done[0].changes.empty()) << c.name;
    EXPECT_EQ(f.counters.unencodable, 1u) << c.name;
    EXPECT_EQ(f.counters.emitted, 0u) << c.name;
  }
}

TEST(answer_resolution, a_dead_letter_too_large_for_any_event_is_counted_as_failed_to_dlq) {
  resolver_fixture f;
  auto d = f.delivery_for("r-b", "b", 1, 0);
  auto ev = std::make_shared<wire::envelope>(*d.ev);
  // A detail an entry may hold, whose dead letter may not: the letter
  // carries the attributes and the event's other fields beside it.
  nlohmann::json big = nlohmann::json::object();
  for (int i = 0; ev->detail.size() < max_dead_letter_detail() + 64; ++i) {
    big["k" + std::to_string(i)] = std::string(200, 'v');
    ev->detail.clear();
    nlohmann::json::to_msgpack(big, ev->detail);
  }
  ASSERT_FALSE(wire::check_entry({ev->source, ev->detail_type, ev->detail, ev->correlation_id, &ev->resources}));
  d.ev = ev;
  auto a = answer_to(d, outcome::permanent);
  commit_batch w;
  f.resolver.resolve(a, 1000, w);
  EXPECT_TRUE(w.events.empty());
  EXPECT_EQ(f.metrics.of("r-b").failed_to_dlq, 1u);
  EXPECT_EQ(f.metrics.of("r-b").sent_to_dlq, 0u);
  EXPECT_EQ(f.metrics.of("r-b").failed, 1u);
}

}  // namespace
}  // namespace troupe::runtime
