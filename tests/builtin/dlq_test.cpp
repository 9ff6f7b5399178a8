// The DLQ service and the dead-letter codec, without a cluster: a dead
// letter survives its trip through JSON exactly, a detail that is not one
// names the field, and the DLQ keeps, pages, redrives and purges records.
#include <gtest/gtest.h>

#include "actors/builtin/dlq.hpp"
#include "actors/dead_letter.hpp"
#include "cluster/config.hpp"

namespace troupe {
namespace {

using json = nlohmann::json;

wire::envelope original(const std::string& id, const std::string& customer) {
  wire::envelope ev;
  ev.id = id;
  ev.source = "troupe.booking";
  ev.detail_type = "BookingCreated";
  ev.time_ms = 1795000000000;
  ev.resources = {"arn:flight:TR100"};
  ev.origin = "booking";
  ev.epoch = 7;
  ev.seq = 42;
  ev.correlation_id = "corr-" + id;
  ev.causation_id = "cause-" + id;
  json::to_msgpack(json{{"customer", customer}, {"amount", 249.9}}, ev.detail);
  return ev;
}

dead_letter letter(const std::string& id, const std::string& rule, const std::string& code) {
  dead_letter d;
  d.dlq = "dlq";
  d.rule = rule;
  d.target = "payment";
  d.node = "payment";
  d.error_code = code;
  d.error_message = "card gateway down";
  d.exhausted_retry_condition = code == error_code::permanent_error ? "" : "MaximumRetryAttempts";
  d.retry_attempts = code == error_code::permanent_error ? 0 : 3;
  d.first_attempt_ms = 1795000000100;
  d.last_attempt_ms = 1795000000900;
  d.event = original("ev-" + id, "Ada " + id);
  return d;
}

TEST(dead_letter, survives_its_trip_through_json) {
  auto d = letter("1", "charge", error_code::handler_error);
  auto back = dead_letter_from_detail(json::from_msgpack(json::to_msgpack(to_detail(d))));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(back->event, d.event);
  EXPECT_EQ(back->rule, "charge");
  EXPECT_EQ(back->exhausted_retry_condition, "MaximumRetryAttempts");
  EXPECT_EQ(back->retry_attempts, 3);
  EXPECT_EQ(back->first_attempt_ms, d.first_attempt_ms);
  EXPECT_EQ(to_detail(*back), to_detail(d));
  // A permanent error says "none", as EventBridge does.
  EXPECT_EQ(to_detail(letter("2", "charge", error_code::permanent_error))["EXHAUSTED_RETRY_CONDITION"], "none");
}

TEST(dead_letter, an_undecodable_detail_travels_as_its_bytes) {
  auto ev = original("x", "y");
  ev.detail = std::string("\xc1\x00", 2);  // 0xc1 is never valid MessagePack
  auto j = event_to_json(ev);
  EXPECT_TRUE(j["detail"].is_null());
  auto back = event_from_json(json::parse(j.dump()));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(back->detail, ev.detail);
}

TEST(dead_letter, a_bad_detail_names_the_field) {
  auto good = to_detail(letter("1", "charge", error_code::handler_error));
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& j) { j.erase("RULE_ARN"); }, "detail.RULE_ARN: missing"},
      {[](json& j) { j["RETRY_ATTEMPTS"] = "three"; }, "detail.RETRY_ATTEMPTS: must be an integer"},
      {[](json& j) { j["event"].erase("id"); }, "detail.event.id: missing"},
      {[](json& j) { j["event"]["detail"] = 5; }, "detail.event.detail: must be an object"},
      {[](json& j) { j["event"]["resources"] = {1}; }, "detail.event.resources: must be an array of strings"},
      {[](json& j) { j = json::array(); }, "detail: must be an object"},
  };
  for (const auto& [spoil, want] : cases) {
    auto j = good;
    spoil(j);
    auto r = dead_letter_from_detail(j);
    ASSERT_FALSE(r) << want;
    EXPECT_NE(r.err().message.find(want), std::string::npos) << r.err().message;
  }
}

/// Hands `detail` to the DLQ as an event of `type` with `id`; applies its
/// state changes to `rows` as the runtime would commit them.
handled feed(builtin::dlq& q, const std::string& type, const std::string& id, const json& detail,
             std::map<std::string, json>& rows) {
  wire::envelope ev;
  ev.id = id;
  ev.source = type == cluster::dead_letter_type ? cluster::dead_letter_source : cluster::dlq_command_source;
  ev.detail_type = type;
  ev.time_ms = 1795000001000;
  state_changes changes;
  auto h = q.handle(event_in{ev, detail, changes});
  if (h.status == outcome::ok)
    for (const auto& c : changes.changes()) {
      EXPECT_EQ(c.table, "letters");
      if (c.value)
        rows[c.key] = *c.value;
      else
        rows.erase(c.key);
    }
  return h;
}

TEST(dlq_service, keeps_pages_redrives_and_purges) {
  builtin::dlq q;
  std::map<std::string, json> rows;
  for (int i = 0; i < 5; ++i) {
    const auto id = "dl-" + std::to_string(i);
    auto h = feed(q, cluster::dead_letter_type, id,
                  to_detail(letter(std::to_string(i), i % 2 ? "charge" : "refund",
                                   i == 4 ? error_code::permanent_error : error_code::handler_error)),
                  rows);
    ASSERT_EQ(h.status, outcome::ok) << h.error;
  }
  // The same dead letter again changes nothing.
  EXPECT_EQ(feed(q, cluster::dead_letter_type, "dl-0", to_detail(letter("0", "refund", "X")), rows).status,
            outcome::ok);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(q.query("count", {})["letters"], 5);
  EXPECT_EQ(q.query("show", {{"id", "dl-2"}})["RULE_ARN"], "refund");
  EXPECT_EQ(q.query("show", {{"id", "dl-2"}})["RECEIVED_MS"], 1795000001000);
  EXPECT_TRUE(q.query("show", {{"id", "nope"}}).is_null());

  // Pages, oldest first, and filters.
  auto first = q.query("list", {{"limit", 2}});
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1]["id"], "dl-1");
  auto rest = q.query("list", {{"after", "dl-1"}, {"limit", 10}});
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0]["id"], "dl-2");
  EXPECT_EQ(q.query("list", {{"rule", "charge"}}).size(), 2u);
  EXPECT_EQ(q.query("list", {{"error_code", "PERMANENT_ERROR"}}).size(), 1u);

  // A redrive emits the original event back to its target, once, and the
  // record leaves; an id already gone is skipped.
  auto h = feed(q, "DeadLetterRedriveRequested", "cmd-1", {{"dead-letter-queue", "dlq"}, {"ids", {"dl-1", "gone"}}},
                rows);
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  ASSERT_EQ(h.emitted.size(), 1u);
  EXPECT_EQ(h.emitted[0].detail_type, cluster::redrive_type);
  EXPECT_EQ(h.emitted[0].detail["RULE_ARN"], "charge");
  EXPECT_EQ(h.emitted[0].detail["TARGET_ARN"], "payment");
  EXPECT_EQ(h.emitted[0].detail["dead-letter-id"], "dl-1");
  EXPECT_EQ(h.emitted[0].correlation_id, "corr-ev-1");
  auto ev = event_from_json(h.emitted[0].detail["event"]);
  ASSERT_TRUE(ev);
  EXPECT_EQ(*ev, original("ev-1", "Ada 1"));
  EXPECT_FALSE(rows.count("dl-1"));
  EXPECT_TRUE(feed(q, "DeadLetterRedriveRequested", "cmd-2", {{"ids", {"dl-1"}}}, rows).emitted.empty());

  // A purge emits nothing.
  h = feed(q, "DeadLetterPurgeRequested", "cmd-3", {{"ids", {"dl-0", "dl-2"}}}, rows);
  EXPECT_TRUE(h.emitted.empty());
  EXPECT_EQ(rows.size(), 2u);

  // What survives restores into a new instance.
  builtin::dlq again;
  for (const auto& [key, value] : rows)
    again.restore("letters", key, value);
  EXPECT_EQ(again.query("list", {}).size(), 2u);
}

TEST(dlq_service, a_bad_dead_letter_or_command_is_a_permanent_error_naming_the_field) {
  builtin::dlq q;
  std::map<std::string, json> rows;
  auto d = to_detail(letter("1", "charge", error_code::handler_error));
  d.erase("TARGET_ARN");
  auto h = feed(q, cluster::dead_letter_type, "dl-1", d, rows);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_NE(h.error.find("detail.TARGET_ARN: missing"), std::string::npos) << h.error;
  h = feed(q, "DeadLetterRedriveRequested", "cmd", {{"ids", "dl-1"}}, rows);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_NE(h.error.find("detail.ids"), std::string::npos) << h.error;
  EXPECT_TRUE(rows.empty());
}

} // namespace
} // namespace troupe
