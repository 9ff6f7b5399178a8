#include "actors/runtime/stream_gate.hpp"

#include <gtest/gtest.h>

namespace troupe::runtime {
namespace {

const stream_key key{"up", "A"};

struct step {
  std::uint64_t epoch, seq;
  admission expect;
  std::uint64_t ask_from;  // 0: no replay asked
};

struct gate_case {
  const char* name;
  std::vector<step> steps;
};

TEST(stream_gate, takes_each_streams_next_event_and_nothing_else) {
  const std::vector<gate_case> cases = {
      {"in order", {{7, 1, admission::taken, 0}, {7, 2, admission::taken, 0}, {7, 3, admission::taken, 0}}},
      {"a duplicate is dropped", {{7, 1, admission::taken, 0}, {7, 1, admission::duplicate, 0}}},
      {"a gap asks a replay from the first missing",
       {{7, 1, admission::taken, 0}, {7, 4, admission::gap, 2}, {7, 2, admission::taken, 0}}},
      {"a second gap within the replay timeout asks nothing more",
       {{7, 3, admission::gap, 1}, {7, 4, admission::gap, 0}}},
      {"a new epoch starts its stream at 1",
       {{7, 1, admission::taken, 0}, {7, 2, admission::taken, 0}, {9, 1, admission::taken, 0}}},
      {"a new epoch not at 1 is a gap from 1", {{7, 1, admission::taken, 0}, {9, 5, admission::gap, 1}}},
      {"an earlier epoch is stale", {{9, 1, admission::taken, 0}, {7, 2, admission::stale, 0}}},
  };
  for (const auto& c : cases) {
    stream_gate g;
    for (const auto& s : c.steps) {
      auto v = g.accept(key, s.epoch, s.seq, 1000);
      EXPECT_EQ(v.what, s.expect) << c.name << ": seq " << s.seq;
      EXPECT_EQ(v.ask.has_value(), s.ask_from != 0) << c.name << ": seq " << s.seq;
      if (v.ask && s.ask_from) {
        EXPECT_EQ(v.ask->from, s.ask_from) << c.name;
        EXPECT_EQ(v.ask->epoch, s.epoch) << c.name;
        EXPECT_EQ(v.ask->key, key) << c.name;
      }
      EXPECT_EQ(v.hold != nullptr, s.expect == admission::taken) << c.name;
    }
  }
}

TEST(stream_gate, a_replay_is_asked_again_after_its_timeout) {
  stream_gate g(stream_gate::options{50000, 2000});
  EXPECT_TRUE(g.accept(key, 1, 3, 1000).ask);
  EXPECT_FALSE(g.accept(key, 1, 3, 2999).ask);
  EXPECT_TRUE(g.accept(key, 1, 3, 3000).ask);
}

/// Holds events 1..n of `key`, each with one target to answer.
std::vector<std::shared_ptr<held_event>> hold(stream_gate& g, int n) {
  std::vector<std::shared_ptr<held_event>> out;
  for (int i = 1; i <= n; ++i) {
    auto v = g.accept(key, 1, i, 0);
    v.hold->remaining = 1;
    out.push_back(v.hold);
  }
  return out;
}

answer ok_for(const std::shared_ptr<held_event>& h, std::string target = "a") {
  answer a;
  a.d.hold = h;
  a.d.target = std::move(target);
  return a;
}

TEST(stream_gate, releases_held_events_in_seq_order_whatever_order_they_finish_in) {
  struct order_case {
    std::vector<int> answered;            // seqs, in the order their answers come
    std::vector<std::uint64_t> cursors;   // cursor released after each answer (0: none)
  };
  const std::vector<order_case> cases = {
      {{1, 2, 3}, {1, 2, 3}},
      {{3, 2, 1}, {0, 0, 3}},
      {{2, 1, 3}, {0, 2, 3}},
      {{1, 3, 2}, {1, 0, 3}},
  };
  for (const auto& c : cases) {
    stream_gate g;
    auto held = hold(g, 3);
    std::vector<std::uint64_t> order;
    for (std::size_t i = 0; i < c.answered.size(); ++i) {
      EXPECT_EQ(g.answered(ok_for(held[c.answered[i] - 1])), key);
      auto cur = g.release(key, [&](held_event& h) {
        order.push_back(h.seq);
        EXPECT_EQ(h.answers.size(), 1u);
      });
      EXPECT_EQ(cur ? cur->seq : 0, c.cursors[i]) << "answer " << i;
    }
    EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_EQ(g.held(), 0u);
  }
}

TEST(stream_gate, a_full_gate_defers_and_leaves_the_event_to_replay) {
  stream_gate g(stream_gate::options{2, 2000});
  hold(g, 2);
  EXPECT_EQ(g.accept(key, 1, 3, 0).what, admission::deferred);
  EXPECT_EQ(g.stream(key).accepted.seq, 2u);  // not taken: it comes again
  EXPECT_EQ(g.accept({"other", "A"}, 1, 1, 0).what, admission::deferred);
}

TEST(stream_gate, undecodable_events_are_held_only_in_their_turn) {
  stream_gate g;
  EXPECT_EQ(g.accept(key, 1, 1, 0).what, admission::taken);
  EXPECT_FALSE(g.accept_in_place(key, 1, 3));  // not its turn
  EXPECT_FALSE(g.accept_in_place(key, 2, 2));  // another epoch
  auto h = g.accept_in_place(key, 1, 2);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->seq, 2u);
  EXPECT_EQ(g.stream(key).accepted.seq, 2u);
}

TEST(stream_gate, acks_follow_the_committed_cursor) {
  stream_gate g;
  hold(g, 3);
  EXPECT_TRUE(g.acks_due(false).empty());  // nothing committed yet
  g.committed(key, 1, 2);
  auto acks = g.acks_due(false);
  ASSERT_EQ(acks.size(), 1u);
  ASSERT_EQ(acks["up"].size(), 1u);
  EXPECT_EQ(acks["up"][0].stream, "A");
  EXPECT_EQ(acks["up"][0].seq, 2u);
  EXPECT_EQ(acks["up"][0].epoch, 1u);
  EXPECT_TRUE(g.acks_due(false).empty());    // said once
  EXPECT_EQ(g.acks_due(true).size(), 1u);    // and again when asked anew
  g.committed(key, 0, 3);                    // another epoch: ignored
  EXPECT_TRUE(g.acks_due(false).empty());
  EXPECT_EQ(g.unacked(), 1u);                // 3 taken, 2 acked
}

TEST(stream_gate, a_restored_stream_acks_its_cursor_anew) {
  stream_gate g;
  g.restore(key, store::cursor{4, 10});
  auto acks = g.acks_due(false);
  ASSERT_EQ(acks["up"].size(), 1u);
  EXPECT_EQ(acks["up"][0].seq, 10u);
  EXPECT_EQ(g.accept(key, 4, 10, 0).what, admission::duplicate);
  EXPECT_EQ(g.accept(key, 4, 11, 0).what, admission::taken);
}

TEST(stream_gate, a_heartbeat_asks_a_replay_only_when_the_stream_stopped_moving) {
  stream_gate g;
  EXPECT_EQ(g.accept(key, 1, 1, 0).what, admission::taken);
  // Behind, first beat: asked.
  auto ask = g.heartbeat(key, 1, 5, 10000);
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->from, 2u);
  // It moved since the last beat: lagging a busy stream is normal.
  EXPECT_EQ(g.accept(key, 1, 2, 0).what, admission::taken);
  EXPECT_FALSE(g.heartbeat(key, 1, 9, 20000));
  // It did not move: asked again.
  EXPECT_TRUE(g.heartbeat(key, 1, 9, 30000));
  // Up to date: nothing.
  stream_gate h;
  EXPECT_EQ(h.accept(key, 1, 1, 0).what, admission::taken);
  EXPECT_FALSE(h.heartbeat(key, 1, 1, 10000));
  // A newer epoch: from 1.
  auto fresh = h.heartbeat(key, 2, 3, 10000);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->from, 1u);
  EXPECT_EQ(fresh->epoch, 2u);
}

TEST(stream_gate, a_replay_from_an_origin_that_no_longer_keeps_the_start_skips_to_what_it_keeps) {
  stream_gate g;
  EXPECT_EQ(g.accept(key, 1, 1, 0).what, admission::taken);
  auto skipped = g.replay_starts(key, 1, 6);
  ASSERT_TRUE(skipped);
  EXPECT_EQ(skipped->first, 2u);
  EXPECT_EQ(skipped->second, 5u);
  EXPECT_EQ(g.accept(key, 1, 6, 0).what, admission::taken);
  EXPECT_FALSE(g.replay_starts(key, 1, 7));  // nothing skipped: 7 is next
}

TEST(stream_gate, a_replay_batch_that_moved_the_stream_asks_for_the_rest) {
  stream_gate g;
  const auto before = g.stream(key).accepted;
  EXPECT_FALSE(g.replay_continues(key, before, 1, 10, 0));  // moved nothing
  g.replay_starts(key, 1, 1);
  EXPECT_EQ(g.accept(key, 1, 1, 0).what, admission::taken);
  auto ask = g.replay_continues(key, before, 1, 10, 0);
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->from, 2u);
  EXPECT_FALSE(g.replay_continues(key, g.stream(key).accepted, 1, 1, 0));  // at the head
}

TEST(stream_gate, knows_whose_successful_answers_it_holds) {
  stream_gate g;
  auto held = hold(g, 2);
  g.answered(ok_for(held[1], "b"));  // waits for seq 1
  EXPECT_TRUE(g.holds_success_of("b"));
  EXPECT_FALSE(g.holds_success_of("a"));
  g.answered(ok_for(held[0], "a"));
  g.release(key, [](held_event&) {});
  EXPECT_FALSE(g.holds_success_of("b"));
}

}  // namespace
}  // namespace troupe::runtime
