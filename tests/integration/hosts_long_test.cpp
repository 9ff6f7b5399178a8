// The long multi-host run (suite 'long'): the three hosts of
// hosts_test.cpp under one longer load, 5,000 bookings put on alpha, while
// every host in turn has its link cut at one end or the other for 10 s,
// its link 20% lossy both ways for 10 s, and dies whole and is started
// again: nothing lost, nothing doubled, the audit passes on gamma.
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "tests/integration/hosts_support.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;

TEST(hosts_long, every_host_cut_lossy_and_killed_in_turn_under_five_thousand_bookings) {
  TROUPE_NEED_HOSTS_LAB();
  const std::vector<std::string> hosts = {"alpha", "beta", "gamma"};
  hosts_lab lab(hosts);
  hosts_cluster c(lab);
  c.launch_all("alpha");
  constexpr std::size_t target = 5000;
  auto book = lab.start("alpha", hosts_book_command(c, target, 50, 9, 300, 120));

  // Nine troubles spread over the puts (100 s, 50 bookings a second: each
  // trouble lasts up to 10 s, so all of them fall while bookings go in):
  // each once about a tenth more of the bookings are in. Alpha is never
  // killed: `troupe book` runs there.
  struct trouble {
    std::string host, what;
  };
  const std::vector<trouble> plan = {{"beta", "cut-bridge"}, {"gamma", "loss"},       {"beta", "kill"},
                                     {"alpha", "cut-host"},  {"gamma", "cut-bridge"}, {"alpha", "loss"},
                                     {"gamma", "kill"},      {"beta", "loss"},        {"gamma", "cut-host"}};
  for (std::size_t k = 0; k < plan.size(); ++k) {
    const auto& [host, what] = plan[k];
    hosts_wait_for_bookings(c, "alpha", static_cast<std::int64_t>((k + 1) * target / (plan.size() + 1)), *book, 60s);
    std::printf("hosts-long: %s %s at %lld bookings\n", what.c_str(), host.c_str(),
                static_cast<long long>(hosts_bookings_made(c, "alpha")));
    if (what == "kill") {
      EXPECT_GE(c.kill_host(host), 3u);
      std::string why;
      ASSERT_TRUE(c.launch(host, 60s, &why)) << why;
      continue;
    }
    const auto end = what == "cut-host" ? link_end::host : link_end::bridge;
    if (what == "loss")
      lab.set_loss(host, 0.2);
    else
      lab.cut(host, end);
    std::this_thread::sleep_for(10s);  // the trouble's length, not a wait for something
    if (what == "loss")
      lab.set_loss(host, 0);
    else
      lab.heal(host, end);
  }

  const auto summary = expect_booked(book->wait(600s), target, c);
  ASSERT_TRUE(summary.is_object());
  expect_one_outcome_each(c, "beta", summary, target);
  expect_audit_passes(c, "gamma", summary, target);
  for (const auto& host : hosts)
    EXPECT_EQ(c.stop(host), 0) << c.launcher_output(host).substr(0, 20000);
}

} // namespace
} // namespace troupe::test
