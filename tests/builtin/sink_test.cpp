// The sink's latency query, without a cluster: the percentiles the bench
// plots come from the events that carry "sent_us", in order, and the rest
// are counted but not timed.
#include <gtest/gtest.h>

#include <chrono>

#include "actors/builtin/sink.hpp"

namespace troupe {
namespace {

using json = nlohmann::json;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void hand(builtin::sink& s, const std::string& id, const json& detail) {
  wire::envelope e;
  e.id = id;
  e.detail_type = "Ping";
  state_changes changes;
  ASSERT_EQ(s.handle({e, detail, changes}).status, outcome::ok);
}

TEST(sink, latency_percentiles_of_the_stamped_events) {
  builtin::sink s;
  // Latencies of 1..1000 ms, handed in no order, and one unstamped event.
  const auto t = now_us();
  for (int i = 0; i < 1000; ++i) {
    const int ms = 1 + (i * 617) % 1000;
    hand(s, "ev-" + std::to_string(i), json{{"sent_us", t - ms * 1000}});
  }
  hand(s, "ev-plain", json{{"customer", "Ada"}});
  const auto q = s.query("latency", json::object());
  EXPECT_EQ(q["count"], 1000);
  // Each is its rank's latency plus the time the test took since `t`.
  const std::int64_t slack = now_us() - t + 1;
  const std::pair<const char*, std::int64_t> expected[] = {
      {"p50_us", 501}, {"p90_us", 901}, {"p99_us", 991}, {"p999_us", 1000}, {"max_us", 1000}};
  for (const auto& [key, ms] : expected) {
    const auto us = q[key].get<std::int64_t>();
    EXPECT_GE(us, ms * 1000) << key;
    EXPECT_LE(us, ms * 1000 + slack) << key;
  }
  EXPECT_EQ(s.query("count", json::object())["distinct"], 1001);
}

TEST(sink, latency_of_nothing_is_zero) {
  builtin::sink s;
  const auto q = s.query("latency", json::object());
  EXPECT_EQ(q["count"], 0);
  EXPECT_EQ(q["p999_us"], 0);
  EXPECT_EQ(q["max_us"], 0);
}

} // namespace
} // namespace troupe
