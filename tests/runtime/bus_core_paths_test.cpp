// The bus core's less travelled paths: replays with an undecodable event,
// retries parked in the inbox, answers that emit what cannot be sent,
// expiry into MAX_EVENT_AGE letters, refused redrives, accepted acks.
#include "actors/runtime/bus_core.hpp"
#include "actors/runtime/service_runner.hpp"
#include <type_traits>
#include <gtest/gtest.h>
#include "actors/msgpack_json.hpp"
#include "tests/runtime/fixtures.hpp"
#include "wire/control.hpp"
#include "wire/endpoint.hpp"
#include "wire/stream.hpp"

namespace troupe::runtime {
namespace {
using test::answer_to;
using test::event_of;

// Their parts hold references into them.
static_assert(!std::is_copy_constructible_v<bus_core>);
static_assert(!std::is_copy_constructible_v<answer_resolver>);
static_assert(!std::is_copy_constructible_v<service_runner>);

/// The dead letters `port` published, decoded.
std::vector<nlohmann::json> letters_of(const test::recording_port& port) {
  std::vector<nlohmann::json> out;
  for (const auto& [topic, bytes] : port.published)
    if (topic == wire::topic_of(cluster::dead_letter_type)) {
      auto ev = wire::decode(bytes);
      EXPECT_TRUE(ev);
      if (ev)
        out.push_back(json_from_msgpack(ev->detail));
    }
  return out;
}

struct fx {
  cluster::config cfg = test::small_cluster();
  test::recording_port port;
  std::unique_ptr<bus_core> bus;
  explicit fx(std::string node = "down", std::set<std::string> svcs = {"b"}) {
    bus_setup s;
    s.node = node;
    s.cfg = &cfg;
    s.epoch = 77;
    auto topo = topology_of(cfg);
    s.topo = std::make_shared<const topology>(std::move(*topo));
    s.services = svcs;
    s.log = test::quiet_log();
    bus = std::make_unique<bus_core>(std::move(s), port);
    bus->start();
  }
};

TEST(bus_core_paths, a_parked_retry_has_its_inbox_row_so_its_success_deletes_it) {
  fx f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1)});
  std::vector<answer> as{answer_to(f.port.all_delivered("b")[0], outcome::transient)};
  f.bus->on_answers(as);
  f.port.commit_all(*f.bus);
  ASSERT_EQ(f.port.retries.size(), 1u);
  EXPECT_NE(f.port.retries[0].second.inbox_id, 0);
}

TEST(bus_core_paths, an_undecodable_event_in_a_replay_becomes_one_letter_and_the_stream_goes_on) {
  fx f;
  wire::replay_batch batch{"B", 5, 3, 1, {}};
  for (int seq = 1; seq <= 3; ++seq) {
    std::string bytes;
    ASSERT_TRUE(wire::encode(*event_of("up", "B", 5, seq), bytes));
    if (seq == 2) bytes = "garbage";
    batch.events.emplace_back(seq, bytes);
  }
  f.bus->on_peer("up", wire::encode(batch));
  auto ds = f.port.all_delivered("b");
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].ev->seq, 1u);
  EXPECT_EQ(ds[1].ev->seq, 3u);
  EXPECT_EQ(f.bus->counters().undecodable, 1u);
  for (auto& d : ds) {
    std::vector<answer> as{answer_to(d, outcome::ok)};
    f.bus->on_answers(as);
  }
  f.port.commit_all(*f.bus);
  f.bus->on_tick();
  auto letters = letters_of(f.port);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["ERROR_CODE"], "UNDECODABLE_EVENT");
  EXPECT_EQ(f.bus->gate().held(), 0u);
  // The stream committed past all three, and says so to its origin.
  bool acked3 = false;
  for (const auto& [node, bytes] : f.port.to_peers)
    if (node == "up" && wire::peer_verb(bytes) == "ack")
      if (auto a = wire::decode_ack(bytes))
        for (const auto& x : a->acks)
          acked3 = acked3 || (x.stream == "B" && x.seq == 3);
  EXPECT_TRUE(acked3);
}

TEST(bus_core_paths, an_answer_emitting_what_cannot_be_sent_is_a_failure_and_its_stream_moves_on) {
  fx f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1)});
  auto a = answer_to(f.port.all_delivered("b")[0], outcome::ok, {{"Done", nlohmann::json::array(), ""}});
  a.changes.push_back({"t", "k", nlohmann::json{{"v", 1}}});
  std::vector<answer> as{a};
  f.bus->on_answers(as);
  f.port.commit_all(*f.bus);
  f.bus->on_tick();
  EXPECT_EQ(f.bus->counters().permanent_dropped, 1u);
  EXPECT_EQ(f.bus->metrics().of("r-b").successful_attempts, 0u);
  EXPECT_EQ(f.bus->metrics().of("r-b").failed, 1u);
  EXPECT_EQ(f.bus->counters().unencodable, 1u);
  auto letters = letters_of(f.port);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["ERROR_CODE"], invalid_event_code);
}

TEST(bus_core_paths, an_event_a_consumer_never_acks_becomes_a_max_event_age_letter) {
  fx f("up", {"a"});
  // put a B event on "up": consumed by down
  wire::control_request r;
  r.verb = "put";
  wire::put_entry e;
  e.source = "app";
  e.detail_type = "B";
  nlohmann::json::to_msgpack(nlohmann::json{{"n", 1}}, e.detail);
  r.entries.push_back(e);
  f.port.now = wire::now_ms();
  f.bus->on_request("c", "", wire::encode(r));
  f.port.commit_all(*f.bus);
  ASSERT_EQ(f.port.replies.size(), 1u);
  f.port.now += 61'000;  // past r-b's maximum event age of 60 s: down never acked it
  for (int i = 0; i < 100; ++i) f.bus->on_tick();
  f.port.commit_all(*f.bus);
  EXPECT_EQ(f.bus->counters().expired, 1u);
  auto letters = letters_of(f.port);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["ERROR_CODE"], "MAX_EVENT_AGE");
  EXPECT_EQ(letters[0]["EXHAUSTED_RETRY_CONDITION"], "MaximumEventAgeInSeconds");
  EXPECT_EQ(letters[0]["NODE"], "down");  // where the target runs, which never took it
  EXPECT_EQ(letters[0]["LAST_ATTEMPT_MS"], 0);
}

TEST(bus_core_paths, a_redrive_for_a_rule_that_is_gone_goes_back_to_the_dlq) {
  fx f;
  auto original = event_of("up", "B", 1, 3);
  nlohmann::json detail = {{"RULE_ARN", "r-b"}, {"TARGET_ARN", "b"}, {"dead-letter-id", "L1"},
                           {"event", event_to_json(*original)}};
  auto redm = std::make_shared<wire::envelope>(*event_of("dead", cluster::redrive_type, 5, 1, 0, std::string("troupe.") + cluster::dlq_service));
  redm->detail.clear();
  // refused: rule r-b targets b -> use gone rule
  detail["RULE_ARN"] = "gone";
  nlohmann::json::to_msgpack(detail, redm->detail);
  event_ptr red = redm;
  f.bus->on_events("dead", {red});
  f.port.commit_all(*f.bus);
  f.bus->on_tick();
  EXPECT_EQ(f.bus->counters().redrives_refused, 1u);
  auto letters = letters_of(f.port);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["ERROR_CODE"], "REDRIVE_REFUSED");
  EXPECT_TRUE(f.port.all_delivered("b").empty());
}

TEST(bus_core_paths, an_ack_from_a_consumer_is_taken_and_capped_at_what_was_given_out) {
  fx f("up", {"a"});
  wire::control_request r;
  r.verb = "put";
  for (int i = 0; i < 3; ++i) {
    wire::put_entry e;
    e.source = "app";
    e.detail_type = "B";
    nlohmann::json::to_msgpack(nlohmann::json{{"n", i}}, e.detail);
    r.entries.push_back(e);
  }
  f.bus->on_request("c", "", wire::encode(r));
  f.port.commit_all(*f.bus);
  f.bus->on_request("x", "", wire::encode(wire::ack{"down", {{"B", 77, 99}}}));
  EXPECT_EQ(f.bus->counters().bad_acks, 0u);
  EXPECT_EQ(f.bus->outbound().acked("down", "B"), 3u);
  const auto chores = f.port.chores;
  f.bus->on_tick();
  EXPECT_GT(f.port.chores, chores);  // the ack persisted and the outbox pruned
}

}  // namespace
}  // namespace troupe::runtime
