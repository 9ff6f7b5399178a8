// Chaos in the default run: the five-node flight cluster under `troupe
// launch`, at least 500 bookings put while nodes are killed with SIGKILL
// (every service among them, twice each), the launcher restarting them.
// Then `troupe audit` must pass: every booking one outcome, nothing lost,
// no effect doubled. The same with a DLQ node and faults in payment
// (transient failures, crashes of its actor, poison): the poison bookings,
// and only they, end in the DLQ, once each.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "store/node_store.hpp"
#include "tests/integration/bookings.hpp"
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
        req.entries.push_back({"chaos", "BookingRequested", chaos_booking(i, "C" + std::to_string(i)), "", {}, {}});
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

/// flight_rules with the DLQ on every rule. The rules to payment (charge,
/// refund) retry its transient failures quickly and (nearly) for ever, so
/// that only poison ends in the DLQ; with the default policy (1 s doubling
/// up to 60 s) one refund in a few thousand, failing seven times in a row,
/// would take over a minute to settle.
std::string rules_with_dlq() {
  std::istringstream in(flight_rules);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  - {", 0) == 0 && line.back() == '}') {
      line.pop_back();
      line += ", dead-letter-queue: dlq";
      if (line.find("target: payment") != std::string::npos)
        line += ", retry-policy: {maximum-retry-attempts: 185, backoff-base: 0.01, backoff-cap: 0.05}";
      line += "}";
    }
    out += line + "\n";
  }
  return out;
}

/// Deliveries `node` has failed at least once and will try again: rows of
/// its inbox past their first attempt (a retry is stored before it is
/// scheduled). 0 when the store cannot be read.
std::int64_t retries_pending(const troupe::cluster::config& cfg, const std::string& node) {
  auto db = store::open_read_only((cfg.find_node(node)->data_dir / "node.db").string());
  if (!db)
    return 0;
  auto s = db->prepare("SELECT count(*) FROM inbox WHERE attempt > 1");
  if (!s)
    return 0;
  auto row = s->step();
  return row && *row ? s->int64(0) : 0;
}

bool is_poison(const std::string& customer) { return customer.rfind("Poison", 0) == 0; }

TEST(chaos, poison_bookings_reach_the_dlq_once_through_kills_and_transient_faults) {
  const std::vector<std::string> nodes = {"booking", "payment", "seat", "ticket", "notification", "dlq"};
  cluster c({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
             {"notification", {"notification"}}, {"dlq", {"dlq"}}},
            std::string(flight_body) + R"(faults:
  payment: {transient: 0.3, crash: 0.01, poison: {"detail": {"customer": [{"prefix": "Poison"}]}}}
)" + rules_with_dlq());
  const auto t0 = std::chrono::steady_clock::now();
  const auto seconds = [&t0] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  std::size_t with_dlq = 0;
  for (const auto& r : cfg->rules)
    with_dlq += r.dead_letter_queue == "dlq";
  ASSERT_EQ(with_dlq, 8u) << "every rule of flight_rules";

  // Every 100th customer is poison. Bookings go in until the target is
  // reached and every kill is done; the ids of the poison bookings whose
  // PutEvents was acknowledged are kept.
  constexpr std::size_t target = 500;
  std::atomic<std::size_t> acked{0};
  std::atomic<bool> kills_done{false}, stop{false};
  std::mutex mu;
  std::set<std::string> acked_poison;
  std::thread producer([&] {
    std::mt19937 rng(11);
    int i = 0;
    while (!stop && !(kills_done && acked >= target)) {
      wire::client client(c.control("booking"));
      wire::control_request req;
      req.verb = "put";
      std::vector<bool> poison;
      for (int k = 0; k < 10; ++k, ++i) {
        const bool p = i % 100 == 99;
        req.entries.push_back(
            {"chaos", "BookingRequested", chaos_booking(i, (p ? "Poison " : "C") + std::to_string(i)), "", {}, {}});
        poison.push_back(p);
      }
      auto rep = client.call(req, 2s);
      if (rep && rep->ok)
        for (std::size_t k = 0; k < rep->results.size() && k < poison.size(); ++k) {
          if (rep->results[k].id.empty())
            continue;
          ++acked;
          if (poison[k]) {
            std::lock_guard<std::mutex> lock(mu);
            acked_poison.insert(rep->results[k].id);
          }
        }
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
    }
  });

  // Twelve kills: every node once, six more drawn at random, in a random
  // order. Payment is killed only while it has a retry pending.
  std::mt19937 rng(43);
  std::vector<std::string> kills = nodes;
  for (int k = 0; k < 6; ++k)
    kills.push_back(nodes[rng() % nodes.size()]);
  std::shuffle(kills.begin(), kills.end(), rng);
  std::string failure;
  std::size_t payment_killed_retrying = 0;
  for (const auto& node : kills) {
    const auto before = acked.load();
    wait_until([&] { return acked.load() >= before + 20; }, 10s);
    if (node == "payment" && !wait_until([&] { return retries_pending(*cfg, "payment") > 0; }, 20s)) {
      failure = "payment never had a retry pending";
      break;
    }
    const pid_t pid = pid_of(c, node);
    if (pid <= 0) {
      failure = "no pid for " + node;
      break;
    }
    if (kill(pid, SIGKILL) != 0 || !wait_until([&] { return pid_of(c, node) != pid; }, 20s)
        || !c.node_answers(node, 20s)) {
      failure = node + " was not restarted";
      break;
    }
    payment_killed_retrying += node == "payment";
  }
  kills_done = true;
  if (failure.empty() && !wait_until([&] { return acked.load() >= target; }, 120s))
    failure = "only " + std::to_string(acked.load()) + " bookings were acknowledged";
  stop = true;
  producer.join();
  ASSERT_TRUE(failure.empty()) << failure << "\n" << c.launcher_output();
  EXPECT_GE(payment_killed_retrying, 1u);
  const double produced_s = seconds();

  // Settled: a poison booking stays PENDING, so when as many bookings are
  // PENDING as there are dead letters, every other booking has ended and
  // every poison one is in the DLQ.
  json stats, count;
  EXPECT_TRUE(wait_until(
      [&] {
        auto s = cli::query(*cfg, "booking", "stats", json::object(), 5s);
        auto n = cli::query(*cfg, "dlq", "count", json::object(), 5s);
        if (!s || !n)
          return false;
        stats = *s;
        count = *n;
        return stats["PENDING"] == count["letters"];
      },
      90s))
      << stats.dump() << " " << count.dump();
  const double settled_s = seconds();

  // The bookings the booking service has, a put that timed out included.
  auto rows = cli::query(*cfg, "booking", "bookings", json::object(), 10s);
  ASSERT_TRUE(rows && rows->is_array());
  std::set<std::string> poison_bookings;
  std::size_t not_final = 0;
  for (const auto& b : *rows) {
    const auto state = b.value("state", "");
    if (is_poison(b.value("customer", ""))) {
      poison_bookings.insert(b.value("id", ""));
      EXPECT_EQ(state, "PENDING") << b.dump();
    } else if (state != "CONFIRMED" && state != "CANCELLED") {
      ++not_final;
      ADD_FAILURE() << "not final: " << b.dump();
      if (not_final > 5)
        break;
    }
  }
  EXPECT_GE(poison_bookings.size(), acked_poison.size());
  EXPECT_GE(poison_bookings.size(), target / 100);
  for (const auto& id : acked_poison)
    EXPECT_EQ(poison_bookings.count(id), 1u) << "acknowledged poison booking " << id << " does not exist";

  // The DLQ holds exactly their BookingCreated events, each once, none of
  // payment's transient failures.
  const auto letters = dlq_json(c, {"list"});
  std::set<std::string> lettered;
  for (const auto& l : letters) {
    EXPECT_EQ(l["RULE_ARN"], "charge") << l.dump();
    EXPECT_EQ(l["TARGET_ARN"], "payment") << l.dump();
    EXPECT_EQ(l["ERROR_CODE"], "PERMANENT_ERROR") << l.dump();
    EXPECT_EQ(l["EXHAUSTED_RETRY_CONDITION"], "none") << l.dump();
    EXPECT_EQ(l["RETRY_ATTEMPTS"], 0) << l.dump();
    EXPECT_EQ(l["event"]["detail-type"], "BookingCreated") << l.dump();
    EXPECT_TRUE(is_poison(l["event"]["detail"].value("customer", ""))) << l.dump();
    lettered.insert(l["event"].value("correlation_id", ""));
  }
  EXPECT_EQ(lettered.size(), letters.size()) << "a booking was dead-lettered twice";
  EXPECT_EQ(lettered, poison_bookings);

  // The audit counts the poison bookings apart, and passes.
  auto audit = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json", "--wait", "90"}, 120s);
  ASSERT_EQ(audit.code, 0) << audit.output << "\n" << c.launcher_output().substr(0, 20000);
  auto report = json::parse(audit.output.substr(audit.output.find('{')));
  const auto& by_state = report["bookings"];
  EXPECT_EQ(by_state["PENDING"], 0);
  EXPECT_EQ(by_state["DEAD_LETTERED"], poison_bookings.size());
  EXPECT_EQ(by_state["CONFIRMED"].get<std::size_t>() + by_state["CANCELLED"].get<std::size_t>()
                + poison_bookings.size(),
            rows->size());
  EXPECT_GE(by_state["CONFIRMED"].get<std::size_t>() + by_state["CANCELLED"].get<std::size_t>(),
            acked.load() - acked_poison.size());
  EXPECT_EQ(report["dead_letters"], poison_bookings.size());
  EXPECT_EQ(report["dead_letters_by_error_code"], (json{{"PERMANENT_ERROR", poison_bookings.size()}}));
  EXPECT_EQ(report["dead_lettered"], json(poison_bookings));
  EXPECT_TRUE(report["in_flight"].empty()) << report.dump(2);
  EXPECT_TRUE(report["violations"].empty()) << report.dump(2);
  const double audited_s = seconds();
  auto table = run_command({troupe_bin(), "audit", c.config_path()}, 60s);
  EXPECT_EQ(table.code, 0) << table.output;
  const auto n = std::to_string(poison_bookings.size());
  EXPECT_NE(table.output.find(", 0 pending, " + n + " dead-lettered\n"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("dead letters: " + n + " (PERMANENT_ERROR " + n + ")\n"), std::string::npos)
      << table.output;

  const auto log = c.launcher_output();
  for (const auto& node : nodes)
    EXPECT_NE(log.find("restarted node " + node), std::string::npos) << node;
  // Payment also threw on 1% of its deliveries: its actor was rebuilt from
  // its store each time, and the audit above found no charge lost or doubled.
  EXPECT_NE(log.find("[service=payment] restarted from"), std::string::npos);
  std::printf("chaos-dlq: bookings=%zu acked=%zu poison=%zu kills=%zu payment_killed_retrying=%zu "
              "produced=%.1fs settled=%.1fs audited=%.1fs\n",
              rows->size(), acked.load(), poison_bookings.size(), kills.size(), payment_killed_retrying, produced_s,
              settled_s, audited_s);
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
}

} // namespace
} // namespace troupe::test
