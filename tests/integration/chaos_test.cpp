// Chaos in the default run: the shipped flight cluster (configs/flight.yaml)
// under `troupe launch`, 500 bookings made by `troupe book` (run as a user runs it) while
// nodes are killed with SIGKILL (every service among them, twice each), the
// launcher restarting them. `troupe book` must see every booking to its
// end, each once; then `troupe audit` must pass: every booking one outcome,
// nothing lost, no effect doubled. The same with the DLQ node killed too and faults in
// payment (transient failures, crashes of its actor, poison): the poison
// bookings, and only they, end in the DLQ, once each.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "store/node_store.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(chaos, bookings_survive_ten_kills_of_every_kind_of_node) {
  cluster c(shipped{"configs/flight.yaml", chaos_supervision, "", ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // The load is `troupe book` itself, as a user runs it: 500 bookings at a
  // steady pace, each PutEvents retried (with its idempotency key) until it
  // is answered, then every outcome waited for.
  constexpr std::size_t target = 500;
  background_command book(book_command(c, target, 150, 7, 120, 60));

  // Two kills of every node, in a random order, spread over the puts: kill
  // k once the booking service holds k+1 elevenths of the bookings (or
  // after 10 s). A failure is noted; the load is reaped however it ends.
  std::vector<std::string> kills;
  for (int round = 0; round < 2; ++round)
    kills.insert(kills.end(), node_names.begin(), node_names.end());
  std::shuffle(kills.begin(), kills.end(), std::mt19937(42));
  std::string failure;
  std::size_t kills_while_putting = 0;
  for (std::size_t k = 0; k < kills.size(); ++k) {
    const auto& node = kills[k];
    const pid_t pid = pid_of(c, node);
    if (pid <= 0) {
      failure = "no pid for " + node;
      break;
    }
    const auto due = static_cast<std::int64_t>((k + 1) * target / (kills.size() + 1));
    const auto made = wait_for_bookings(*cfg, due, book, 10s);
    kills_while_putting += made < static_cast<std::int64_t>(target);
    if (kill(pid, SIGKILL) != 0 || !wait_until([&] { return pid_of(c, node) != pid; }, 20s)
        || !c.node_answers(node, 20s)) {
      failure = node + " was not restarted";
      break;
    }
  }
  ASSERT_TRUE(failure.empty()) << failure << "\n" << c.launcher_output();

  // `troupe book` saw every booking to its end, each counted once.
  const auto booked = book.wait(180s);
  ASSERT_EQ(booked.code, 0) << booked.output << "\n" << c.launcher_output().substr(0, 20000);
  const auto summary = book_summary(booked.output);
  ASSERT_TRUE(summary.is_object()) << booked.output;
  EXPECT_EQ(summary["bookings"], target) << summary.dump();
  EXPECT_EQ(summary["pending"], 0) << summary.dump();
  EXPECT_EQ(summary["dead_lettered"], 0) << summary.dump();
  EXPECT_EQ(summary["confirmed"].get<std::size_t>() + summary["cancelled"].get<std::size_t>()
                + summary["dead_lettered"].get<std::size_t>(),
            summary["bookings"].get<std::size_t>())
      << summary.dump();
  // Kills hit the cluster while the bookings were going in.
  EXPECT_GE(kills_while_putting, kills.size() / 3);

  // The audit finds nothing wrong, and the stores hold exactly the bookings
  // `troupe book` made: none lost, none doubled by a retried PutEvents.
  auto audit = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json", "--wait", "90"}, 120s);
  ASSERT_EQ(audit.code, 0) << audit.output << "\n" << c.launcher_output().substr(0, 20000);
  auto report = json::parse(audit.output.substr(audit.output.find('{')));
  const auto& by_state = report["bookings"];
  EXPECT_EQ(by_state["CONFIRMED"], summary["confirmed"]) << report.dump();
  EXPECT_EQ(by_state["CANCELLED"], summary["cancelled"]) << report.dump();
  EXPECT_EQ(by_state["PENDING"], 0);
  EXPECT_EQ(report["cancelled_by_reason"], summary["cancel_reasons"]) << report.dump() << "\n" << summary.dump();
  EXPECT_EQ(report["emails"], target) << "one email per booking";
  EXPECT_TRUE(report["violations"].empty()) << report.dump(2);
  // The launcher saw the ten kills and restarted every node.
  const auto log = c.launcher_output();
  for (const auto& node : node_names)
    EXPECT_NE(log.find("restarted node " + node), std::string::npos) << node;
  std::printf("chaos: bookings=%zu confirmed=%zu cancelled=%zu kills=%zu kills_while_putting=%zu put=%.1fs "
              "total=%.1fs\n",
              summary["bookings"].get<std::size_t>(), summary["confirmed"].get<std::size_t>(),
              summary["cancelled"].get<std::size_t>(), kills.size(), kills_while_putting,
              summary["put_seconds"].get<double>(), summary["total_seconds"].get<double>());
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
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

/// The poison bookings: `troupe book --count N` numbers its bookings 0 to
/// N-1 and gives booking i the email NAME+i@example.com, so those whose
/// number ends in 99 are every 100th booking.
constexpr const char* poison_pattern = R"({"detail": {"email": [{"suffix": "99@example.com"}]}})";
bool is_poison(const std::string& email) {
  return email.size() >= 14 && email.compare(email.size() - 14, 14, "99@example.com") == 0;
}

TEST(chaos, poison_bookings_reach_the_dlq_once_through_kills_and_transient_faults) {
  const std::vector<std::string> nodes = {"booking", "payment", "seat", "ticket", "notification", "dlq"};
  // The shipped rules: every one with the DLQ, and the two to payment
  // retrying its transient failures quickly (at most 2 s apart), the charge
  // 20 times, so that only poison ends in the DLQ.
  cluster c(shipped{"configs/flight.yaml", std::string(chaos_supervision)
                                               + "faults:\n  payment: {transient: 0.3, crash: 0.01, poison: "
                                               + poison_pattern + "}\n",
                    "", ""});
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
  ASSERT_EQ(with_dlq, 8u) << "every rule of configs/flight.yaml";

  // The load is `troupe book`: 500 bookings at a steady pace, of which
  // every 100th is poison to payment, each PutEvents retried until it is
  // answered; then it waits for every outcome, a dead letter included.
  constexpr std::size_t target = 500;
  constexpr std::size_t poison_expected = target / 100;
  background_command book(book_command(c, target, 150, 11, 120, 60));

  // Twelve kills: every node once, six more drawn at random, in a random
  // order, spread over the puts as in the test above. Payment is killed
  // only while it has a retry pending.
  std::mt19937 rng(43);
  std::vector<std::string> kills = nodes;
  for (int k = 0; k < 6; ++k)
    kills.push_back(nodes[rng() % nodes.size()]);
  std::shuffle(kills.begin(), kills.end(), rng);
  std::string failure;
  std::size_t payment_killed_retrying = 0, kills_while_putting = 0;
  for (std::size_t k = 0; k < kills.size(); ++k) {
    const auto& node = kills[k];
    const auto due = static_cast<std::int64_t>((k + 1) * target / (kills.size() + 1));
    const auto made = wait_for_bookings(*cfg, due, book, 10s);
    if (node == "payment" && !wait_until([&] { return retries_pending(*cfg, "payment") > 0; }, 20s)) {
      failure = "payment never had a retry pending";
      break;
    }
    const pid_t pid = pid_of(c, node);
    if (pid <= 0) {
      failure = "no pid for " + node;
      break;
    }
    kills_while_putting += made < static_cast<std::int64_t>(target);
    if (kill(pid, SIGKILL) != 0 || !wait_until([&] { return pid_of(c, node) != pid; }, 20s)
        || !c.node_answers(node, 20s)) {
      failure = node + " was not restarted";
      break;
    }
    payment_killed_retrying += node == "payment";
  }
  ASSERT_TRUE(failure.empty()) << failure << "\n" << c.launcher_output();
  EXPECT_GE(payment_killed_retrying, 1u);
  EXPECT_GE(kills_while_putting, kills.size() / 3);

  // `troupe book` saw every booking to its end, each counted once: the
  // poison ones dead-lettered at payment, the others confirmed or cancelled.
  const auto booked = book.wait(180s);
  ASSERT_EQ(booked.code, 0) << booked.output << "\n" << c.launcher_output().substr(0, 20000);
  const auto summary = book_summary(booked.output);
  ASSERT_TRUE(summary.is_object()) << booked.output;
  EXPECT_EQ(summary["bookings"], target) << summary.dump();
  EXPECT_EQ(summary["pending"], 0) << summary.dump();
  EXPECT_EQ(summary["dead_lettered"], poison_expected) << summary.dump();
  EXPECT_EQ(summary["dead_letter_reasons"], (json{{"PERMANENT_ERROR at payment", poison_expected}}))
      << summary.dump();
  EXPECT_EQ(summary["confirmed"].get<std::size_t>() + summary["cancelled"].get<std::size_t>()
                + summary["dead_lettered"].get<std::size_t>(),
            summary["bookings"].get<std::size_t>())
      << summary.dump();
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

  // The bookings the booking service has: exactly those `troupe book` made.
  auto rows = cli::query(*cfg, "booking", "bookings", json::object(), 10s);
  ASSERT_TRUE(rows && rows->is_array());
  EXPECT_EQ(rows->size(), target) << "a booking was lost or doubled";
  std::set<std::string> poison_bookings;
  std::size_t not_final = 0;
  for (const auto& b : *rows) {
    const auto state = b.value("state", "");
    if (is_poison(b.value("email", ""))) {
      poison_bookings.insert(b.value("id", ""));
      EXPECT_EQ(state, "PENDING") << b.dump();
    } else if (state != "CONFIRMED" && state != "CANCELLED") {
      ++not_final;
      ADD_FAILURE() << "not final: " << b.dump();
      if (not_final > 5)
        break;
    }
  }
  EXPECT_EQ(poison_bookings.size(), poison_expected);

  // The DLQ holds exactly their BookingCreated events, each once, none of
  // payment's transient failures.
  const auto letters = dlq_json(c, {"list"});
  std::set<std::string> lettered;
  for (const auto& l : letters) {
    EXPECT_EQ(l["RULE_ARN"], "charge-new-bookings") << l.dump();
    EXPECT_EQ(l["TARGET_ARN"], "payment") << l.dump();
    EXPECT_EQ(l["ERROR_CODE"], "PERMANENT_ERROR") << l.dump();
    EXPECT_EQ(l["EXHAUSTED_RETRY_CONDITION"], "none") << l.dump();
    EXPECT_EQ(l["RETRY_ATTEMPTS"], 0) << l.dump();
    EXPECT_EQ(l["event"]["detail-type"], "BookingCreated") << l.dump();
    EXPECT_TRUE(is_poison(l["event"]["detail"].value("email", ""))) << l.dump();
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
  EXPECT_EQ(by_state["CONFIRMED"], summary["confirmed"]) << report.dump();
  EXPECT_EQ(by_state["CANCELLED"], summary["cancelled"]) << report.dump();
  EXPECT_EQ(by_state["CONFIRMED"].get<std::size_t>() + by_state["CANCELLED"].get<std::size_t>()
                + poison_bookings.size(),
            rows->size());
  EXPECT_EQ(report["cancelled_by_reason"], summary["cancel_reasons"]) << report.dump() << "\n" << summary.dump();
  EXPECT_EQ(report["emails"], target - poison_expected) << "one email per booking that ended";
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
  std::printf("chaos-dlq: bookings=%zu confirmed=%zu cancelled=%zu poison=%zu kills=%zu kills_while_putting=%zu "
              "payment_killed_retrying=%zu produced=%.1fs settled=%.1fs audited=%.1fs\n",
              rows->size(), summary["confirmed"].get<std::size_t>(), summary["cancelled"].get<std::size_t>(),
              poison_bookings.size(), kills.size(), kills_while_putting, payment_killed_retrying, produced_s,
              settled_s, audited_s);
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
}

} // namespace
} // namespace troupe::test
