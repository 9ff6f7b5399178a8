#include "actors/runtime/retry_schedule.hpp"

#include <gtest/gtest.h>

namespace troupe::runtime {
namespace {

using ms = std::chrono::milliseconds;

cluster::retry_policy policy(int attempts, long age_ms, long base_ms, long cap_ms) {
  cluster::retry_policy p;
  p.maximum_retry_attempts = attempts;
  p.maximum_event_age = ms(age_ms);
  p.backoff_base = ms(base_ms);
  p.backoff_cap = ms(cap_ms);
  return p;
}

struct retry_case {
  const char* name;
  cluster::retry_policy p;
  int attempt;           // the attempt that just failed
  long age_ms;           // how old the event is now
  bool spent;
  const char* exhausted; // "" when retried
  long max_delay_ms;     // when retried: the delay is in [0, this]
};

TEST(retry_schedule, follows_the_rules_policy) {
  const std::vector<retry_case> cases = {
      {"first failure is retried within the base", policy(2, 60000, 100, 1000), 1, 0, true, "", 100},
      {"the backoff doubles per retry", policy(5, 60000, 100, 10000), 3, 0, true, "", 400},
      {"and stops at its cap", policy(50, 600000, 100, 1000), 20, 0, true, "", 1000},
      {"the last retry allowed", policy(2, 60000, 100, 1000), 2, 0, true, "", 200},
      {"past the retries: MaximumRetryAttempts", policy(2, 60000, 100, 1000), 3, 0, true, exhausted_attempts, 0},
      {"no retries at all", policy(0, 60000, 100, 1000), 1, 0, true, exhausted_attempts, 0},
      {"an attempt not run is bound by age alone", policy(0, 60000, 100, 1000), 1, 0, false, "", 100},
      {"too old: MaximumEventAgeInSeconds", policy(185, 60000, 100, 1000), 1, 60001, true, exhausted_age, 0},
      {"exactly at its age it is still retried", policy(185, 60000, 0, 0), 1, 60000, true, "", 0},
  };
  std::mt19937_64 rng(7);
  for (const auto& c : cases)
    for (int trial = 0; trial < 200; ++trial) {
      store::retry_state r;
      r.attempt = c.attempt;
      const std::int64_t now = 10'000'000;
      auto d = next_retry(c.p, r, now - c.age_ms, now, c.spent, rng);
      EXPECT_STREQ(d.exhausted, c.exhausted) << c.name;
      if (*c.exhausted) {
        EXPECT_FALSE(d.delay) << c.name;
        continue;
      }
      ASSERT_TRUE(d.delay) << c.name;
      EXPECT_GE(d.delay->count(), 0) << c.name;
      EXPECT_LE(d.delay->count(), c.max_delay_ms) << c.name;
    }
}

TEST(retry_schedule, a_delay_that_would_pass_the_age_exhausts_it) {
  // 59.9 s old with a 60 s age: a delay under 100 ms is fine, one over is not;
  // with a 1 s base some draws are each.
  std::mt19937_64 rng(11);
  int retried = 0, aged = 0;
  for (int i = 0; i < 500; ++i) {
    store::retry_state r;
    auto d = next_retry(policy(185, 60000, 1000, 1000), r, 0, 59900, true, rng);
    if (d.delay) {
      ++retried;
      EXPECT_LE(d.delay->count(), 100);
    } else {
      ++aged;
      EXPECT_STREQ(d.exhausted, exhausted_age);
    }
  }
  EXPECT_GT(retried, 0);
  EXPECT_GT(aged, 0);
}

TEST(retry_schedule, full_jitter_spreads_over_the_whole_range) {
  std::mt19937_64 rng(3);
  long lo = 1 << 30, hi = 0;
  for (int i = 0; i < 2000; ++i) {
    store::retry_state r;
    r.attempt = 4;  // three retries done: up to 800 ms
    auto d = next_retry(policy(10, 600000, 100, 5000), r, 0, 0, true, rng);
    ASSERT_TRUE(d.delay);
    lo = std::min<long>(lo, d.delay->count());
    hi = std::max<long>(hi, d.delay->count());
  }
  EXPECT_LT(lo, 80);
  EXPECT_GT(hi, 720);
  EXPECT_LE(hi, 800);
}

}  // namespace
}  // namespace troupe::runtime
