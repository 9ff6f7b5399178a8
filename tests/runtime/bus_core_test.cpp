// The bus as a whole, driven without an actor, a socket or a store: the
// ordering, retry, dead-letter and ack cases that otherwise only real
// processes under SIGKILL reach.
#include "actors/runtime/bus_core.hpp"

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

/// Node `down` of the small cluster (service b), its bus driven by hand.
struct bus_fixture {
  cluster::config cfg = test::small_cluster();
  test::recording_port port;
  std::unique_ptr<bus_core> bus;

  explicit bus_fixture(store::snapshot snap = {}) {
    bus_setup s;
    s.node = "down";
    s.cfg = &cfg;
    s.epoch = 77;
    auto topo = topology_of(cfg);
    if (!topo)
      throw std::runtime_error(topo.err().message);
    s.topo = std::make_shared<const topology>(std::move(*topo));
    s.services = {"b"};
    s.snap = std::move(snap);
    s.log = test::quiet_log();
    bus = std::make_unique<bus_core>(std::move(s), port);
    bus->start();
  }

  /// Answers `d` and commits what that makes.
  void answer(const delivery& d, outcome status, std::vector<event_out> events = {}) {
    std::vector<runtime::answer> as{answer_to(d, status, std::move(events))};
    bus->on_answers(as);
  }

  /// The acks sent to `origin` so far: stream → seq.
  std::map<std::string, std::uint64_t> acks_to(const std::string& origin) {
    std::map<std::string, std::uint64_t> out;
    for (const auto& [node, bytes] : port.to_peers)
      if (node == origin && wire::peer_verb(bytes) == "ack") {
        auto ack = wire::decode_ack(bytes);
        EXPECT_TRUE(ack);
        if (ack)
          for (const auto& a : ack->acks)
            out[a.stream] = a.seq;
      }
    return out;
  }

  std::vector<wire::replay_request> replays_asked(const std::string& origin) {
    std::vector<wire::replay_request> out;
    for (const auto& [node, bytes] : port.to_peers)
      if (node == origin && wire::peer_verb(bytes) == "replay") {
        auto r = wire::decode_replay_request(bytes);
        EXPECT_TRUE(r);
        if (r)
          out.push_back(*r);
      }
    return out;
  }
};

TEST(bus_core, a_streams_effects_commit_in_seq_order_and_are_acked_after) {
  // Whatever order the answers come in, the cursor moves only over events
  // whose every predecessor is done; the ack follows the commit.
  const std::vector<std::vector<int>> orders = {{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}};
  for (const auto& order : orders) {
    bus_fixture f;
    f.bus->on_events("up", {event_of("up", "B", 5, 1), event_of("up", "B", 5, 2), event_of("up", "B", 5, 3)});
    auto ds = f.port.all_delivered("b");
    ASSERT_EQ(ds.size(), 3u);
    std::uint64_t expected_cursor = 0;
    std::set<int> done;
    for (int i : order) {
      f.answer(ds[i], outcome::ok);
      done.insert(i);
      std::uint64_t prefix = 0;
      while (done.count(static_cast<int>(prefix)))
        ++prefix;
      f.port.commit_all(*f.bus);
      f.bus->on_tick();
      if (prefix > expected_cursor) {
        expected_cursor = prefix;
        EXPECT_EQ(f.acks_to("up")["B"], expected_cursor);
      } else {
        EXPECT_EQ(f.acks_to("up").count("B") ? f.acks_to("up")["B"] : 0, expected_cursor);
      }
    }
    EXPECT_EQ(f.bus->gate().held(), 0u);
    EXPECT_EQ(f.bus->counters().duplicates, 0u);
  }
}

TEST(bus_core, nothing_is_acked_before_its_commit) {
  bus_fixture f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1)});
  f.answer(f.port.all_delivered("b")[0], outcome::ok);
  f.bus->on_tick();
  EXPECT_TRUE(f.acks_to("up").empty());  // the write has not committed
  f.port.commit_all(*f.bus);
  f.bus->on_tick();
  EXPECT_EQ(f.acks_to("up")["B"], 1u);
}

TEST(bus_core, the_gate_drops_duplicates_and_asks_for_gaps) {
  bus_fixture f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1), event_of("up", "B", 5, 1), event_of("up", "B", 5, 4)});
  EXPECT_EQ(f.port.all_delivered("b").size(), 1u);
  EXPECT_EQ(f.bus->counters().duplicates, 1u);
  EXPECT_EQ(f.bus->counters().gaps, 1u);
  auto asked = f.replays_asked("up");
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].from, 2u);
  EXPECT_EQ(asked[0].stream, "B");
  EXPECT_EQ(asked[0].node, "down");
  // The replay brings 2..4 in a batch.
  wire::replay_batch batch{"B", 5, 4, 2, {}};
  for (int seq = 2; seq <= 4; ++seq) {
    std::string bytes;
    ASSERT_TRUE(wire::encode(*event_of("up", "B", 5, seq), bytes));
    batch.events.emplace_back(seq, bytes);
  }
  f.bus->on_peer("up", wire::encode(batch));
  EXPECT_EQ(f.port.all_delivered("b").size(), 4u);
  EXPECT_EQ(f.bus->counters().replayed_in, 3u);
}

TEST(bus_core, an_event_with_no_local_target_moves_its_cursor_at_once) {
  bus_fixture f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1, 0, "x"), event_of("up", "Other", 5, 1)});
  ASSERT_EQ(f.port.writes.size(), 1u);  // the cursor of Other, with nothing to wait for
  f.port.commit_all(*f.bus);
  f.bus->on_tick();
  EXPECT_EQ(f.acks_to("up")["Other"], 1u);
  EXPECT_EQ(f.acks_to("up").count("B"), 0u);
}

TEST(bus_core, a_transient_failure_is_parked_and_retried_when_due) {
  bus_fixture f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1)});
  f.answer(f.port.all_delivered("b")[0], outcome::transient);
  EXPECT_TRUE(f.port.retries.empty());  // not before the inbox has it
  f.port.commit_all(*f.bus);
  ASSERT_EQ(f.port.retries.size(), 1u);
  EXPECT_LE(f.port.retries[0].first.count(), 20);  // the rule's backoff cap
  auto d = f.port.retries[0].second;
  EXPECT_EQ(d.retry.attempt, 2);
  EXPECT_FALSE(d.hold);
  // The stream moved on meanwhile: its cursor committed with the parking.
  f.bus->on_tick();
  EXPECT_EQ(f.acks_to("up")["B"], 1u);
  f.bus->on_retry_due(d);
  ASSERT_EQ(f.port.all_delivered("b").size(), 2u);
  EXPECT_EQ(f.bus->metrics().of("r-b").retry_attempts, 1u);
}

TEST(bus_core, an_events_age_counts_on_its_origins_clock) {
  // up's clock is two minutes behind ours, r-b's maximum age is 60 s: on
  // our clock its fresh event would look too old to retry.
  for (const bool heard : {true, false}) {
    bus_fixture f;
    const std::int64_t skew = 120000;
    if (heard)
      f.bus->on_heartbeat("up", wire::encode(wire::heartbeat{"up", 5, {}, f.port.now - skew - 3}));
    auto made = std::make_shared<wire::envelope>(*event_of("up", "B", 5, 1));
    made->time_ms = f.port.now - skew;  // just made, by up's clock
    event_ptr ev = made;
    f.bus->on_events("up", {ev});
    auto d = f.port.all_delivered("b").at(0);
    f.answer(d, outcome::transient);
    f.port.commit_all(*f.bus);
    if (heard) {
      EXPECT_EQ(age_start_ms(d), f.port.now + 3);  // the heartbeat took at least 3 ms, so the event is that young
      ASSERT_EQ(f.port.retries.size(), 1u) << "a fresh event was given up on as too old";
      EXPECT_EQ(f.bus->metrics().of("r-b").sent_to_dlq, 0u);
    } else {
      // Before up's first heartbeat its clock is taken at its word.
      EXPECT_EQ(age_start_ms(d), ev->time_ms);
      EXPECT_TRUE(f.port.retries.empty());
      EXPECT_EQ(f.bus->metrics().of("r-b").sent_to_dlq, 1u);
    }
  }
}

TEST(bus_core, out_of_retries_the_dead_letter_goes_out_with_the_completion) {
  bus_fixture f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1)});
  auto d = f.port.all_delivered("b")[0];
  for (int attempt = 1; attempt <= 3; ++attempt) {
    f.answer(d, outcome::transient);
    f.port.commit_all(*f.bus);
    if (attempt < 3) {
      ASSERT_EQ(f.port.retries.size(), static_cast<std::size_t>(attempt));
      d = f.port.retries.back().second;
      f.bus->on_retry_due(d);
      d = f.port.all_delivered("b").back();
    }
  }
  EXPECT_EQ(f.port.retries.size(), 2u);  // 2 retries, then no more
  // The dead letter is published for the DLQ's node.
  std::vector<wire::envelope> letters;
  for (const auto& [topic, bytes] : f.port.published)
    if (topic == wire::topic_of(cluster::dead_letter_type))
      letters.push_back(*wire::decode(bytes));
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].origin, "down");
  auto letter = json_from_msgpack(letters[0].detail);
  EXPECT_EQ(letter["EXHAUSTED_RETRY_CONDITION"], "MaximumRetryAttempts");
  EXPECT_EQ(letter["RETRY_ATTEMPTS"], 2);
  EXPECT_EQ(f.bus->metrics().of("r-b").failed, 1u);
  EXPECT_EQ(f.bus->metrics().of("r-b").sent_to_dlq, 1u);
  EXPECT_EQ(f.bus->metrics().of("r-b").attempts, 3u);
}

TEST(bus_core, a_crashed_service_is_rebuilt_only_after_its_earlier_successes_commit) {
  bus_fixture f;
  f.bus->on_events("up", {event_of("up", "B", 5, 1), event_of("up", "B", 5, 2)});
  auto ds = f.port.all_delivered("b");
  f.answer(ds[1], outcome::ok);  // held: waits for seq 1
  f.bus->on_crashed("b");
  f.port.commit_all(*f.bus);
  EXPECT_TRUE(f.port.restored.empty());  // its success of seq 2 is still held
  f.answer(ds[0], outcome::transient);   // seq 1 fails: both release
  EXPECT_TRUE(f.port.restored.empty());  // asked of the store, behind the commit
  f.port.commit_all(*f.bus);
  EXPECT_EQ(f.port.restored, (std::vector<std::string>{"b"}));
}

std::string put_request(const std::string& key, int n) {
  wire::control_request r;
  r.verb = "put";
  wire::put_entry e;
  e.source = "app";
  e.detail_type = "B";
  nlohmann::json::to_msgpack(nlohmann::json{{"n", n}}, e.detail);
  e.idempotency_key = key;
  r.entries.push_back(e);
  return wire::encode(r);
}

wire::put_result put_result_of(const std::string& reply) {
  auto rep = wire::decode_reply(reply, "put");
  EXPECT_TRUE(rep);
  EXPECT_EQ(rep->results.size(), 1u);
  return rep->results.at(0);
}

TEST(bus_core, put_events_answers_once_durable_and_a_repeated_key_makes_nothing) {
  bus_fixture f;
  f.bus->on_request("c1", "", put_request("k", 1));
  ASSERT_EQ(f.port.writes.size(), 1u);  // the key is looked up in the store first
  EXPECT_TRUE(f.port.replies.empty());
  f.port.commit_all(*f.bus);            // the lookup, then the event's write
  ASSERT_EQ(f.port.replies.size(), 1u);
  const auto first = put_result_of(f.port.replies[0].second);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(f.port.all_delivered("b").size(), 1u);  // local target, from the inbox
  EXPECT_EQ(std::count_if(f.port.published.begin(), f.port.published.end(),
                          [](const auto& p) { return p.first == wire::topic_of("B"); }),
            1);
  f.bus->on_request("c1", "", put_request("k", 1));
  f.port.commit_all(*f.bus);
  ASSERT_EQ(f.port.replies.size(), 2u);
  EXPECT_EQ(put_result_of(f.port.replies[1].second).id, first.id);
  f.bus->on_request("c1", "", put_request("k", 2));
  f.port.commit_all(*f.bus);
  EXPECT_EQ(put_result_of(f.port.replies[2].second).error_code, "IdempotencyKeyMismatch");
  EXPECT_EQ(f.port.all_delivered("b").size(), 1u);
  EXPECT_EQ(f.bus->counters().idempotent_repeats, 1u);
}

TEST(bus_core, acks_the_config_does_not_allow_are_refused) {
  bus_fixture f;
  f.bus->on_request("x", "", wire::encode(wire::ack{"stranger", {{"B", 77, 1}}}));
  f.bus->on_request("x", "", wire::encode(wire::ack{"down", {{"B", 77, 1}}}));  // itself
  f.bus->on_request("x", "", wire::encode(wire::ack{"up", {{"Nope", 77, 1}}}));
  EXPECT_EQ(f.bus->counters().bad_acks, 3u);
}

TEST(bus_core, inbox_rows_found_at_start_are_delivered_now_or_when_due) {
  store::snapshot snap;
  std::string bytes;
  ASSERT_TRUE(wire::encode(*event_of("up", "B", 5, 1), bytes));
  snap.inbox.push_back({1, "b", "r-b", bytes, {}});
  // The recording port's clock reads 1,000,000 ms: one row was due before
  // it, one is due 5 s after it.
  store::retry_state past;
  past.attempt = 2;
  past.due_ms = 999'000;
  snap.inbox.push_back({3, "b", "r-b", bytes, past});
  store::retry_state later;
  later.attempt = 2;
  later.due_ms = 1'005'000;
  snap.inbox.push_back({2, "b", "r-b", bytes, later});
  bus_fixture f(snap);
  auto now = f.port.all_delivered("b");
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].inbox_id, 1);
  EXPECT_EQ(now[1].inbox_id, 3);
  ASSERT_EQ(f.port.retries.size(), 1u);
  EXPECT_EQ(f.port.retries[0].second.inbox_id, 2);
  EXPECT_EQ(f.port.retries[0].first.count(), 5000);
}

TEST(bus_core, a_read_goes_to_the_reader_with_its_bounds_and_its_page_is_the_reply) {
  bus_fixture f;
  wire::control_request r;
  r.verb = "read";
  r.services = {"b"};
  r.after = wire::state_key{"b", "rows", "k1"};
  r.limit = 3;
  f.bus->on_request("c", "", wire::encode(r));
  ASSERT_EQ(f.port.reads.size(), 1u);
  EXPECT_EQ(f.port.reads[0].services, (std::vector<std::string>{"b"}));
  ASSERT_TRUE(f.port.reads[0].after);
  EXPECT_EQ(*f.port.reads[0].after, (wire::state_key{"b", "rows", "k1"}));
  EXPECT_EQ(f.port.reads[0].limit, 3u);
  EXPECT_TRUE(f.port.writes.empty()) << "nothing is read through the store's writer";
  EXPECT_TRUE(f.port.replies.empty());
  f.port.asks.front()(*f.bus);
  ASSERT_EQ(f.port.replies.size(), 1u);
  auto rep = wire::decode_reply(f.port.replies[0].second, "read");
  ASSERT_TRUE(rep) << rep.err().to_string();
  EXPECT_TRUE(rep->ok) << rep->body;
}

TEST(bus_core, a_malformed_read_is_answered_with_an_error_and_reads_nothing) {
  bus_fixture f;
  wire::control_request r;
  r.verb = "read";
  r.limit = 0;  // no rows is no page
  f.bus->on_request("c", "", wire::encode(r));
  r.limit = wire::max_read_rows + 1;
  f.bus->on_request("c", "", wire::encode(r));
  r.limit = 1;
  r.services.assign(wire::max_read_services + 1, "b");
  f.bus->on_request("c", "", wire::encode(r));
  EXPECT_TRUE(f.port.reads.empty());
  ASSERT_EQ(f.port.replies.size(), 3u);
  for (const auto& [who, bytes] : f.port.replies) {
    auto rep = wire::decode_reply(bytes, "read");
    ASSERT_TRUE(rep) << rep.err().to_string();
    EXPECT_FALSE(rep->ok);
    EXPECT_NE(rep->body.find("read"), std::string::npos) << rep->body;
  }
  // And it goes on serving.
  r.services.clear();
  f.bus->on_request("c", "", wire::encode(r));
  EXPECT_EQ(f.port.reads.size(), 1u);
}

TEST(bus_core, reads_past_their_limit_in_flight_are_refused_at_once_apart_from_queries) {
  bus_fixture f;
  wire::control_request r;
  r.verb = "read";
  r.limit = 5;
  const std::size_t limit = bus_timing{}.max_reads_in_flight;
  for (std::size_t i = 0; i < limit; ++i)
    f.bus->on_request("c" + std::to_string(i), "", wire::encode(r));
  EXPECT_EQ(f.port.reads.size(), limit);
  f.bus->on_request("flood", "", wire::encode(r));
  EXPECT_EQ(f.port.reads.size(), limit) << "no more is read at once";
  ASSERT_EQ(f.port.replies.size(), 1u);
  EXPECT_EQ(f.port.replies[0].first, "flood");
  auto rep = wire::decode_reply(f.port.replies[0].second, "read");
  ASSERT_TRUE(rep);
  EXPECT_FALSE(rep->ok);
  EXPECT_NE(rep->body.find("busy"), std::string::npos) << rep->body;
  EXPECT_EQ(f.bus->counters().asks_refused, 1u);
  // Queries have places of their own.
  wire::control_request status;
  status.verb = "status";
  f.bus->on_request("s", "", wire::encode(status));
  EXPECT_EQ(f.port.replies.size(), 1u) << "the status request waits on the services, not refused";
  // A read answered frees its place.
  f.port.asks.front()(*f.bus);
  f.port.asks.pop_front();
  f.bus->on_request("late", "", wire::encode(r));
  EXPECT_EQ(f.port.reads.size(), limit + 1) << "admitted again";
}

TEST(bus_core, queries_and_status_past_the_limit_in_flight_are_refused_at_once) {
  bus_fixture f;
  const auto ask = [&](const std::string& who, const char* verb) {
    wire::control_request r;
    r.verb = verb;
    if (r.verb == "query") {
      r.service = "b";
      r.what = "rows";
      r.args = "{}";
    }
    f.bus->on_request(who, "", wire::encode(r));
  };
  const std::size_t limit = bus_timing{}.max_asks_in_flight;
  for (std::size_t i = 0; i < limit; ++i)
    ask("c" + std::to_string(i), i % 2 ? "status" : "query");
  EXPECT_EQ(f.port.asks.size(), limit);
  EXPECT_TRUE(f.port.replies.empty()) << "each waits on the services";
  ask("flood", "query");
  ask("flood", "status");
  EXPECT_EQ(f.port.asks.size(), limit) << "nothing more is asked of the services";
  ASSERT_EQ(f.port.replies.size(), 2u);
  for (const auto& [who, bytes] : f.port.replies) {
    EXPECT_EQ(who, "flood");
    EXPECT_NE(bytes.find("busy"), std::string::npos);
  }
  EXPECT_EQ(f.bus->counters().asks_refused, 2u);
  // One answered frees one place.
  f.port.asks.front()(*f.bus);
  f.port.asks.pop_front();
  EXPECT_EQ(f.port.replies.size(), 3u);
  ask("late", "query");
  EXPECT_EQ(f.port.asks.size(), limit) << "admitted again";
  EXPECT_EQ(f.bus->counters().asks_refused, 2u);
}

}  // namespace
}  // namespace troupe::runtime
