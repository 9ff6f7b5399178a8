// Each peer's clock against ours, from its heartbeats (peer_clocks.hpp).
#include "actors/runtime/peer_clocks.hpp"

#include <gtest/gtest.h>

namespace troupe::runtime {
namespace {

TEST(peer_clocks, an_unknown_peer_is_taken_at_its_word) {
  peer_clocks c;
  EXPECT_FALSE(c.offset("a"));
  EXPECT_EQ(c.to_local("a", 1000), 1000);
  c.sample("a", 0, 5000);  // a node too old to send its time
  EXPECT_FALSE(c.offset("a"));
}

TEST(peer_clocks, the_smallest_delay_of_the_window_is_the_skew) {
  peer_clocks c;
  // a's clock is 120 s behind ours; heartbeats take 1 to 40 ms.
  const std::int64_t skew = 120000;
  c.sample("a", 1000, 1000 + skew + 40);
  EXPECT_EQ(c.offset("a"), skew + 40);
  c.sample("a", 2000, 2000 + skew + 1);
  c.sample("a", 3000, 3000 + skew + 25);  // a slow one does not move it
  EXPECT_EQ(c.offset("a"), skew + 1);
  EXPECT_EQ(c.to_local("a", 10000), 10000 + skew + 1);
  // Another peer has its own.
  c.sample("b", 1000, 900);
  EXPECT_EQ(c.offset("b"), -100);
  EXPECT_EQ(c.offset("a"), skew + 1);
}

TEST(peer_clocks, a_clock_set_back_is_followed_once_the_window_has_passed) {
  peer_clocks c;
  const std::int64_t t0 = 50000;
  c.sample("a", t0, t0 + 1);
  // a's clock is set back by 10 s: its sends look 10 s older from now on.
  for (std::size_t i = 1; i < peer_clocks::window; ++i)
    c.sample("a", t0 + 1000 * static_cast<std::int64_t>(i) - 10000, t0 + 1 + 1000 * static_cast<std::int64_t>(i));
  EXPECT_EQ(c.offset("a"), 1);  // the old sample is still in the window
  c.sample("a", 100000 - 10000, 100001);
  EXPECT_EQ(c.offset("a"), 10001);
  // Set forward again: followed at once, as the smallest.
  c.sample("a", 200000, 200002);
  EXPECT_EQ(c.offset("a"), 2);
}

} // namespace
} // namespace troupe::runtime
