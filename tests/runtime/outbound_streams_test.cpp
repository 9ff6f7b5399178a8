#include "actors/runtime/outbound_streams.hpp"

#include <gtest/gtest.h>

namespace troupe::runtime {
namespace {

/// Stream A is consumed by p and q, B by p alone, C by nobody.
outbound_streams streams() {
  return outbound_streams({[](const std::string& s) -> std::vector<std::string> {
                             if (s == "A")
                               return {"p", "q"};
                             if (s == "B")
                               return {"p"};
                             return {};
                           },
                           [](const std::string& s) -> std::int64_t { return s == "A" ? 60000 : 120000; }});
}

TEST(outbound_streams, gives_each_stream_its_own_seqs) {
  auto o = streams();
  EXPECT_EQ(o.issue("A"), 1u);
  EXPECT_EQ(o.issue("A"), 2u);
  EXPECT_EQ(o.issue("B"), 1u);
  o.unissue("A");
  EXPECT_EQ(o.issue("A"), 2u);
  EXPECT_EQ(o.heads(), (std::vector<std::pair<std::string, std::uint64_t>>{{"A", 2}, {"B", 1}}));
}

TEST(outbound_streams, takes_only_acks_the_config_allows) {
  struct ack_case {
    const char* name;
    std::string peer;
    wire::stream_ack ack;
    bool refused;
    std::uint64_t acked;  // what p or the peer has acked of the stream after
  };
  const std::vector<ack_case> cases = {
      {"a consumer acks", "p", {"A", 5, 3}, false, 3},
      {"never more than was given out", "p", {"A", 5, 99}, false, 4},
      {"an earlier epoch is ignored", "p", {"A", 4, 2}, false, 0},
      {"a peer that does not consume the stream", "q", {"B", 5, 1}, true, 0},
      {"a stream this node does not have", "p", {"Z", 5, 1}, true, 0},
  };
  for (const auto& c : cases) {
    auto o = streams();
    for (int i = 0; i < 4; ++i) {
      o.issue("A");
      o.issue("B");
    }
    auto why = o.take_ack(c.peer, c.ack, 5);
    EXPECT_EQ(why.has_value(), c.refused) << c.name;
    EXPECT_EQ(o.acked(c.peer, c.ack.stream), c.acked) << c.name;
  }
}

TEST(outbound_streams, prunes_what_every_consumer_acked_in_chunks) {
  auto o = streams();
  for (int i = 0; i < 10; ++i) {
    o.issue("A");
    o.issue("B");
    o.issue("C");
  }
  EXPECT_FALSE(o.acks_to_persist());  // nothing acked yet
  ASSERT_FALSE(o.take_ack("p", {"A", 1, 9}, 1));
  ASSERT_FALSE(o.take_ack("p", {"B", 1, 7}, 1));
  auto acks = o.acks_to_persist();
  ASSERT_TRUE(acks);
  EXPECT_EQ(acks->size(), 2u);
  EXPECT_FALSE(o.acks_to_persist());  // once
  // A waits for q too; B goes up to 7 in chunks of 3; C has no consumer.
  auto ranges = o.prunable(3);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0].stream, "B");
  EXPECT_EQ(ranges[0].upto, 3u);
  EXPECT_EQ(ranges[1].upto, 6u);
  EXPECT_EQ(ranges[2].upto, 7u);
  EXPECT_TRUE(o.prunable(3).empty());  // done already
  ASSERT_FALSE(o.take_ack("q", {"A", 1, 4}, 1));
  ranges = o.prunable(100);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].stream, "A");
  EXPECT_EQ(ranges[0].from, 0u);
  EXPECT_EQ(ranges[0].upto, 4u);
}

TEST(outbound_streams, a_restored_stream_resumes_its_seqs_and_what_it_kept) {
  auto o = streams();
  o.restore("A", 40, 31);  // keeps 31..40
  o.restore("B", 12, 0);   // keeps nothing
  o.restore_ack("p", "A", 35);
  o.restore_ack("q", "A", 33);
  EXPECT_EQ(o.issue("A"), 41u);
  EXPECT_EQ(o.stream("B").pruned, 12u);
  ASSERT_FALSE(o.take_ack("q", {"A", 1, 34}, 1));
  auto ranges = o.prunable(100);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].from, 30u);
  EXPECT_EQ(ranges[0].upto, 34u);
}

TEST(outbound_streams, finds_what_may_be_past_its_age_once) {
  auto o = streams();
  o.issue("A");
  o.issue("B");
  auto cut = o.expiry_cutoffs(1'000'000);
  ASSERT_EQ(cut.size(), 2u);
  EXPECT_EQ(cut[0].before_ms, 1'000'000 - 60000);
  EXPECT_EQ(cut[1].before_ms, 1'000'000 - 120000);
  EXPECT_TRUE(o.expire("A", 1));
  EXPECT_FALSE(o.expire("A", 1));  // already being dropped
  cut = o.expiry_cutoffs(1'000'000);
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].stream, "B");
}

}  // namespace
}  // namespace troupe::runtime
