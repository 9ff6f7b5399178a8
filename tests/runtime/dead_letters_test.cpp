#include "actors/runtime/dead_letters.hpp"

#include <gtest/gtest.h>

#include "actors/runtime/error.hpp"
#include "tests/runtime/fixtures.hpp"

namespace troupe::runtime {
namespace {

wire::envelope redrive_event(const nlohmann::json& detail, std::string source = redrive_source,
                             std::string type = cluster::redrive_type) {
  wire::envelope ev;
  ev.source = std::move(source);
  ev.detail_type = std::move(type);
  nlohmann::json::to_msgpack(detail, ev.detail);
  return ev;
}

TEST(dead_letters, a_redrive_is_read_only_from_the_dlq) {
  auto original = test::event_of("up", "B", 1, 3);
  const nlohmann::json good = {{"RULE_ARN", "r-b"},
                               {"TARGET_ARN", "b"},
                               {"dead-letter-id", "L1"},
                               {"event", event_to_json(*original)}};
  struct read_case {
    const char* name;
    wire::envelope ev;
    bool is_redrive;
    bool event_readable;
  };
  const std::vector<read_case> cases = {
      {"the DLQ's redrive", redrive_event(good), true, true},
      {"another source", redrive_event(good, "troupe.booking"), false, false},
      {"another detail-type", redrive_event(good, redrive_source, "Other"), false, false},
      {"no rule", redrive_event({{"TARGET_ARN", "b"}, {"event", event_to_json(*original)}}), false, false},
      {"no event", redrive_event({{"RULE_ARN", "r-b"}, {"TARGET_ARN", "b"}}), true, false},
      {"an event that is not one", redrive_event({{"RULE_ARN", "r-b"}, {"TARGET_ARN", "b"}, {"event", 5}}), true,
       false},
  };
  for (const auto& c : cases) {
    auto order = read_redrive(c.ev);
    ASSERT_EQ(order.has_value(), c.is_redrive) << c.name;
    if (!order)
      continue;
    EXPECT_EQ(bool(order->event), c.event_readable) << c.name;
    if (order->event) {
      EXPECT_EQ(order->event->id, original->id) << c.name;
      EXPECT_EQ(order->letter_id, "L1") << c.name;
    }
  }
}

TEST(dead_letters, a_redrive_is_refused_when_its_rule_or_event_is_gone) {
  auto cfg = test::small_cluster();
  const auto* rule_b = &cfg.rules[1];
  ASSERT_EQ(rule_b->name, "r-b");
  auto event = *test::event_of("up", "B", 1, 3);
  auto stand_in = *undecodable_stand_in({"up", "B"}, 1, 3, 5);
  struct refusal_case {
    const char* name;
    redrive_order order;
    const cluster::rule_spec* rule;
    bool refused;
  };
  std::vector<refusal_case> cases;
  cases.push_back({"its rule and target are there", {"r-b", "b", "L", event}, rule_b, false});
  cases.push_back({"its rule is gone", {"r-b", "b", "L", event}, nullptr, true});
  cases.push_back({"its rule targets another service now", {"r-b", "a", "L", event}, rule_b, true});
  cases.push_back({"its event is unreadable", {"r-b", "b", "L", error{errc::invalid_event, "x"}}, rule_b, true});
  cases.push_back({"its event was never decoded", {"r-b", "b", "L", stand_in}, rule_b, true});
  for (const auto& c : cases)
    EXPECT_EQ(redrive_refusal(c.order, c.rule).has_value(), c.refused) << c.name;
}

TEST(dead_letters, the_runtimes_sources_are_reserved) {
  EXPECT_TRUE(reserved_source(cluster::dead_letter_source));
  EXPECT_TRUE(reserved_source(redrive_source));
  EXPECT_TRUE(reserved_source(undecodable_source));
  EXPECT_FALSE(reserved_source("troupe.booking"));
  EXPECT_FALSE(reserved_source("app"));
}

TEST(dead_letters, a_dead_letter_carries_what_eventbridge_puts_on_one) {
  answer a = test::answer_to(delivery{0, "b", "r-b", test::event_of("up", "B", 1, 3), nullptr, {}},
                             outcome::transient);
  a.d.retry.attempt = 3;
  a.d.retry.first_ms = 100;
  a.at_ms = 900;
  a.error = std::string(10000, 'e');
  auto dl = dead_letter_of(a, "dlq", "down", "MaximumRetryAttempts");
  EXPECT_EQ(dl.dlq, "dlq");
  EXPECT_EQ(dl.retry_attempts, 2);
  EXPECT_EQ(dl.first_attempt_ms, 100);
  EXPECT_EQ(dl.last_attempt_ms, 900);
  EXPECT_LT(dl.error_message.size(), 4200u);  // cut
  a.dead_letter_queue = "other";
  EXPECT_EQ(dead_letter_of(a, "dlq", "down", "").dlq, "other");  // the answer's own first
  auto detail = dead_letter_detail(dl);
  ASSERT_TRUE(detail);
  EXPECT_TRUE(wire::check_detail(*detail));
}

}  // namespace
}  // namespace troupe::runtime
