#include "actors/runtime/put_events.hpp"

#include <gtest/gtest.h>

#include "actors/runtime/dead_letters.hpp"

namespace troupe::runtime {
namespace {

wire::put_entry entry() {
  wire::put_entry e;
  e.source = "app";
  e.detail_type = "T";
  nlohmann::json::to_msgpack(nlohmann::json{{"a", 1}}, e.detail);
  e.correlation_id = "c";
  e.resources = {"r1"};
  e.idempotency_key = "k";
  return e;
}

TEST(put_events, the_digest_sees_every_field_but_the_key) {
  const auto base = digest_of(entry());
  std::vector<std::pair<const char*, std::function<void(wire::put_entry&)>>> changes = {
      {"source", [](auto& e) { e.source = "app2"; }},
      {"detail-type", [](auto& e) { e.detail_type = "U"; }},
      {"detail", [](auto& e) { e.detail.back() = 2; }},
      {"correlation id", [](auto& e) { e.correlation_id = "d"; }},
      {"a resource", [](auto& e) { e.resources[0] = "r2"; }},
      {"one more resource", [](auto& e) { e.resources.push_back(""); }},
      {"a field's bytes moved to the next", [](auto& e) { e.source = "ap"; e.detail_type = "pT"; }},
  };
  for (auto& [name, change] : changes) {
    auto e = entry();
    change(e);
    EXPECT_NE(digest_of(e), base) << name;
  }
  auto e = entry();
  e.idempotency_key = "other";
  EXPECT_EQ(digest_of(e), base);
}

TEST(put_events, a_repeated_key_answers_its_event_or_a_mismatch) {
  put_call call("client", {entry(), entry()});
  call.digests = {1, 2};
  EXPECT_TRUE(call.settle_repeat(0, "E1", 1));
  EXPECT_EQ(call.results[0].id, "E1");
  EXPECT_TRUE(call.results[0].ok());
  EXPECT_FALSE(call.settle_repeat(1, "E1", 1));
  EXPECT_EQ(call.results[1].error_code, "IdempotencyKeyMismatch");
  EXPECT_TRUE(call.results[1].id.empty());
  EXPECT_TRUE(call.settled[0] && call.settled[1]);
}

TEST(put_events, entries_are_checked_against_limits_and_reserved_sources) {
  struct check_case {
    const char* name;
    std::function<void(wire::put_entry&)> change;
    const char* code;  // "" when fine
  };
  static constexpr std::int64_t now = 1'800'000'000'000;
  const std::vector<check_case> cases = {
      {"a good entry", [](auto&) {}, ""},
      {"the DLQ's source", [](auto& e) { e.source = redrive_source; }, "InvalidArgument"},
      {"the runtime's source", [](auto& e) { e.source = cluster::dead_letter_source; }, "InvalidArgument"},
      {"an empty source", [](auto& e) { e.source.clear(); }, "InvalidArgument"},
      {"a detail that is not a map", [](auto& e) { e.detail = std::string("\x01", 1); }, "MalformedDetail"},
      // An event's age starts at its time: a day back at most, five minutes ahead.
      {"a time an hour ago", [](auto& e) { e.time_ms = now - 3600 * 1000; }, ""},
      {"a time just within a day ago", [](auto& e) { e.time_ms = now - wire::put_time_past_ms; }, ""},
      {"a time over a day ago", [](auto& e) { e.time_ms = now - wire::put_time_past_ms - 1; }, "InvalidArgument"},
      {"a time five minutes ahead", [](auto& e) { e.time_ms = now + wire::put_time_future_ms; }, ""},
      {"a time over five minutes ahead", [](auto& e) { e.time_ms = now + wire::put_time_future_ms + 1; },
       "InvalidArgument"},
  };
  for (const auto& c : cases) {
    auto e = entry();
    c.change(e);
    EXPECT_EQ(check_put_entry(e, now).code, c.code) << c.name;
  }
}

TEST(put_events, keys_are_kept_in_memory_until_durable_and_a_minute_old) {
  idempotency_keys keys;
  keys.remember("a", "E1", 1, 1000);
  keys.remember("b", "E2", 2, 1000);
  keys.durable("a");
  keys.forget_old(1000 + 60001);
  EXPECT_FALSE(keys.find("a"));
  ASSERT_TRUE(keys.find("b"));  // not durable yet: kept
  EXPECT_EQ(keys.find("b")->event_id, "E2");
  keys.durable("b");
  keys.forget_old(1000 + 60000);
  EXPECT_TRUE(keys.find("b"));  // exactly a minute: kept
}

}  // namespace
}  // namespace troupe::runtime
