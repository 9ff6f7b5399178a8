// Chaos in the default run: the five-node flight cluster under `troupe
// launch`, at least 500 bookings put while nodes are killed with SIGKILL
// (every service among them, twice each), the launcher restarting them.
// Then `troupe audit` must pass: every booking one outcome, nothing lost,
// no effect doubled.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/integration/flight_rules.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(chaos, bookings_survive_ten_kills_of_every_kind_of_node) {
  cluster c({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
             {"notification", {"notification"}}},
            std::string(flight_body) + flight_rules);
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // Bookings go in at a steady pace for the whole run; only those whose
  // PutEvents was acknowledged are counted as certainly made.
  constexpr std::size_t target = 500;
  std::atomic<std::size_t> acked{0};
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    std::mt19937 rng(7);
    int i = 0;
    while (!stop && acked < target) {
      wire::client client(c.control("booking"));
      wire::control_request req;
      req.verb = "put";
      for (int k = 0; k < 10; ++k, ++i) {
        json d{{"customer", "C" + std::to_string(i)}, {"email", "c" + std::to_string(i) + "@example.com"},
               {"flight", i % 3 == 0 ? "TR100" : i % 3 == 1 ? "TR200" : "TR300"},
               {"seat_preference", "any"}, {"amount", i % 17 == 0 ? 20000 : 100 + i % 50},
               {"card", i % 13 == 0 ? "4000000000000002" : "4111111111111111"}};
        std::string detail;
        json::to_msgpack(d, detail);
        req.entries.push_back({"chaos", "BookingRequested", detail, "", {}});
      }
      auto rep = client.call(req, 2s);
      if (rep && rep->ok)
        acked += rep->results.size();
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
    }
  });

  // Two kills of every node, in a random order, while bookings flow.
  std::vector<std::string> kills;
  for (int round = 0; round < 2; ++round)
    kills.insert(kills.end(), node_names.begin(), node_names.end());
  std::shuffle(kills.begin(), kills.end(), std::mt19937(42));
  // The kills run while the producer does; a failure is noted, the producer
  // joined, and only then asserted, so that no thread outlives the test.
  std::string failure;
  for (const auto& node : kills) {
    const pid_t pid = pid_of(c, node);
    if (pid <= 0) {
      failure = "no pid for " + node;
      break;
    }
    const auto before = acked.load();
    wait_until([&] { return acked.load() >= before + 20 || acked.load() >= target; }, 10s);
    if (kill(pid, SIGKILL) != 0 || !wait_until([&] { return pid_of(c, node) != pid; }, 20s)
        || !c.node_answers(node, 20s)) {
      failure = node + " was not restarted";
      break;
    }
  }
  if (failure.empty() && !wait_until([&] { return acked.load() >= target; }, 120s))
    failure = "only " + std::to_string(acked.load()) + " bookings were acknowledged";
  stop = true;
  producer.join();
  ASSERT_TRUE(failure.empty()) << failure << "\n" << c.launcher_output();

  // Every booking settles, and the audit finds nothing wrong.
  auto audit = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json", "--wait", "90"}, 120s);
  ASSERT_EQ(audit.code, 0) << audit.output << "\n" << c.launcher_output().substr(0, 20000);
  auto report = json::parse(audit.output.substr(audit.output.find('{')));
  const auto& by_state = report["bookings"];
  EXPECT_GE(by_state["CONFIRMED"].get<std::size_t>() + by_state["CANCELLED"].get<std::size_t>(), acked.load());
  EXPECT_EQ(by_state["PENDING"], 0);
  EXPECT_TRUE(report["violations"].empty()) << report.dump(2);
  // The launcher saw the ten kills and restarted every node.
  const auto log = c.launcher_output();
  for (const auto& node : node_names)
    EXPECT_NE(log.find("restarted node " + node), std::string::npos) << node;
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
}

} // namespace
} // namespace troupe::test
