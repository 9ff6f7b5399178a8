// Injected faults on the real cluster: the payment service fails 30% of its
// deliveries transiently and refuses "poison" bookings permanently. Every
// other booking must still reach its outcome through retries under the
// rule's retry policy, the poison ones must not be retried, and the counts
// of injected faults, retries and permanent failures must agree.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "launcher/common.hpp"
#include "store/sqlite.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string body = std::string(big_flight_services) + R"(faults:
  payment:
    transient: 0.3
    poison: {"detail-type": ["BookingCreated"], "detail": {"customer": [{"prefix": "Poison"}]}}
rules:
  - {name: requests, pattern: {"detail-type": ["BookingRequested"]}, target: booking}
  - name: charge
    pattern: {"source": ["troupe.booking"], "detail-type": ["BookingCreated"]}
    target: payment
    retry-policy: {maximum-retry-attempts: 185, backoff-base: 0.01, backoff-cap: 0.05}
  - {name: seat, pattern: {"detail-type": ["PaymentConfirmed"]}, target: seat}
  - name: refund
    pattern: {"detail-type": ["SeatUnavailable"]}
    target: payment
    retry-policy: {backoff-base: 0.01, backoff-cap: 0.05}
  - {name: ticket, pattern: {"detail-type": ["SeatAssigned"]}, target: ticket}
  - {name: outcomes, pattern: {"detail-type": ["TicketIssued", "PaymentFailed", "PaymentRefunded"]}, target: booking}
  - {name: confirmation, pattern: {"detail-type": ["TicketIssued"]}, target: notification}
  - {name: cancellation, pattern: {"detail-type": ["BookingCancelled"]}, target: notification}
)";

/// The five flight nodes, one service each, with `config_body`.
cluster flight_cluster(const std::string& config_body) {
  return cluster({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
                  {"notification", {"notification"}}},
                 config_body);
}


TEST(faults, transient_failures_are_retried_and_poison_is_not) {
  auto c = flight_cluster(body);
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  constexpr int total = 100, poison_every = 10;  // bookings 0, 10, 20, ... are poison
  std::vector<std::string> customers;
  for (int i = 0; i < total; ++i)
    customers.push_back((i % poison_every == 0 ? "Poison " : "Customer ") + std::to_string(i));
  const auto ids = book(c, customers);
  ASSERT_EQ(ids.size(), customers.size());
  std::vector<std::string> poison_ids, good_ids;
  for (int i = 0; i < total; ++i)
    (i % poison_every == 0 ? poison_ids : good_ids).push_back(ids[static_cast<std::size_t>(i)]);

  // Every good booking is confirmed despite the transient failures.
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, good_ids, 60s, rows)) << rows.dump(1) << "\n"
                                                          << c.launcher_output().substr(0, 20000);

  // The poison bookings failed permanently once each and were never retried:
  // with no dead-letter queue yet they stay PENDING, their failure counted.
  auto poison_rows = cli::query(*cfg, "booking", "bookings", json{{"ids", poison_ids}}, 5s);
  ASSERT_TRUE(poison_rows);
  for (const auto& row : *poison_rows)
    EXPECT_EQ(row.value("state", ""), "PENDING") << row.dump();
  auto faults = cli::query(*cfg, "payment", "faults", json::object(), 5s);
  ASSERT_TRUE(faults);
  EXPECT_EQ((*faults)["poison"], poison_ids.size()) << faults->dump();
  EXPECT_GT((*faults)["transient"].get<int>(), 5) << faults->dump();

  auto status = cli::status(*cfg, *cfg->find_node("payment"), 5s);
  ASSERT_TRUE(status);
  const auto& bus = (*status)["bus"];
  EXPECT_EQ(bus["permanent_dropped"], poison_ids.size()) << status->dump(1);
  // Every injected transient failure was retried, none given up.
  EXPECT_EQ(bus["retries"], (*faults)["transient"]) << status->dump(1);
  EXPECT_EQ(bus["retries_exhausted"], 0) << status->dump(1);
  const auto& svc = (*status)["services"]["payment"];
  EXPECT_EQ(svc["transient"], (*faults)["transient"]) << status->dump(1);
  EXPECT_EQ(svc["permanent"], poison_ids.size()) << status->dump(1);
  // EventBridge's metrics for the charge rule: every booking matched and
  // ended once; the transient failures are the retries.
  json charge;
  for (const auto& m : (*status)["metrics"])
    if (m["rule"] == "charge" && m["target"] == "payment")
      charge = m;
  ASSERT_TRUE(charge.is_object()) << status->dump(1);
  const auto retried = (*faults)["transient"].get<std::size_t>();
  EXPECT_EQ(charge["MatchedEvents"], total) << charge.dump();
  EXPECT_EQ(charge["Invocations"], total) << charge.dump();
  EXPECT_EQ(charge["InvocationAttempts"], total + retried) << charge.dump();
  EXPECT_EQ(charge["RetryInvocationAttempts"], retried) << charge.dump();
  EXPECT_EQ(charge["SuccessfulInvocationAttempts"], good_ids.size()) << charge.dump();
  EXPECT_EQ(charge["FailedInvocations"], poison_ids.size()) << charge.dump();
  EXPECT_GE(charge["IngestiontoInvocationStartLatency"]["maximum_ms"].get<double>(),
            charge["IngestiontoInvocationStartLatency"]["average_ms"].get<double>());

  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

TEST(faults, an_exhausted_retry_budget_gives_up_and_counts_it) {
  // Every delivery to payment fails; the charge rule allows 2 retries.
  std::string b = body;
  b.replace(b.find("transient: 0.3"), 14, "transient: 1.0");
  b.replace(b.find("maximum-retry-attempts: 185"), 27, "maximum-retry-attempts: 2");
  auto c = flight_cluster(b);
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  constexpr int total = 5;
  ASSERT_EQ(book(c, {"A", "B", "C", "D", "E"}).size(), static_cast<std::size_t>(total));
  json bus;
  // Each booking: the first attempt and exactly two retries, then given up.
  EXPECT_TRUE(wait_until(
      [&] {
        auto s = cli::status(*cfg, *cfg->find_node("payment"), 5s);
        if (!s)
          return false;
        bus = (*s)["bus"];
        return bus["retries_exhausted"] == total;
      },
      30s))
      << bus.dump(1);
  auto faults = cli::query(*cfg, "payment", "faults", json::object(), 5s);
  ASSERT_TRUE(faults);
  EXPECT_EQ((*faults)["transient"], 3 * total) << faults->dump();
  EXPECT_EQ(bus["retries"], 2 * total) << bus.dump(1);
  auto status = cli::status(*cfg, *cfg->find_node("payment"), 5s);
  ASSERT_TRUE(status);
  std::size_t charge_rows = 0;
  for (const auto& m : (*status)["metrics"])
    if (m["rule"] == "charge") {
      ++charge_rows;
      EXPECT_EQ(m["Invocations"], total) << m.dump();
      EXPECT_EQ(m["InvocationAttempts"], 3 * total) << m.dump();
      EXPECT_EQ(m["RetryInvocationAttempts"], 2 * total) << m.dump();
      EXPECT_EQ(m["SuccessfulInvocationAttempts"], 0) << m.dump();
      EXPECT_EQ(m["FailedInvocations"], total) << m.dump();
    }
  EXPECT_EQ(charge_rows, 1u) << status->dump(1);
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

/// (attempt, due_ms) of each inbox row of `node`, read from its database.
std::vector<std::pair<std::int64_t, std::int64_t>> inbox_retries(const cluster& c, const std::string& node) {
  std::vector<std::pair<std::int64_t, std::int64_t>> rows;
  auto db = store::database::open_read_only((c.node_data_dir(node) / "node.db").string());
  if (!db) {
    ADD_FAILURE() << db.err().message;
    return rows;
  }
  auto s = db->prepare("SELECT attempt, due_ms FROM inbox ORDER BY id");
  if (!s) {
    ADD_FAILURE() << s.err().message;
    return rows;
  }
  for (auto row = s->step(); row && *row; row = s->step())
    rows.emplace_back(s->int64(0), s->int64(1));
  return rows;
}

TEST(faults, a_retry_that_is_due_later_is_still_due_after_kill_9) {
  // Every delivery to payment fails; one retry allowed, 0-12 s away.
  std::string b = body;
  b.replace(b.find("transient: 0.3"), 14, "transient: 1.0");
  b.replace(b.find("maximum-retry-attempts: 185, backoff-base: 0.01, backoff-cap: 0.05"), 66,
            "maximum-retry-attempts: 1, backoff-base: 12, backoff-cap: 12");
  auto c = flight_cluster(b);
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // Full jitter puts the retry anywhere from now to 12 s away. The node must
  // be killed, restarted and looked at before the retry is due, so a
  // booking whose retry falls due sooner than `margin_ms` is left to run
  // out and another is made (each is far enough with probability about 1/2:
  // 25 in a row all too soon is a chance below 1e-7).
  constexpr std::int64_t margin_ms = 6000;
  std::vector<std::pair<std::int64_t, std::int64_t>> rows;
  std::int64_t due_ms = 0;
  for (int made = 0; made < 25; ++made) {
    ASSERT_TRUE(wait_until([&] { return inbox_retries(c, "payment").empty(); }, 20s))
        << "the previous retry never ran out";
    ASSERT_EQ(book(c, {"Customer " + std::to_string(made)}).size(), 1u);
    // The first attempt failed: the retry is in payment's inbox, attempt 2.
    ASSERT_TRUE(wait_until(
        [&] {
          rows = inbox_retries(c, "payment");
          return rows.size() == 1 && rows[0].first == 2;
        },
        10s))
        << rows.size() << " rows; first attempt " << (rows.empty() ? 0 : rows[0].first) << "\n"
        << c.launcher_output().substr(c.launcher_output().size() > 3000 ? c.launcher_output().size() - 3000 : 0);
    due_ms = rows[0].second;
    if (due_ms - wire::now_ms() >= margin_ms)
      break;
  }
  ASSERT_GE(due_ms - wire::now_ms(), margin_ms) << "no retry was due far enough ahead in 25 bookings";

  const pid_t pid = pid_of(c, "payment");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return pid_of(c, "payment") != pid; }, 20s)) << c.launcher_output();
  ASSERT_TRUE(c.node_answers("payment", 20s));

  // The restarted node kept the retry as it was, and has not run it.
  rows = inbox_retries(c, "payment");
  auto faults = cli::query(*cfg, "payment", "faults", json::object(), 5s);
  const auto looked = wire::now_ms();
  ASSERT_LT(looked, due_ms) << "the restart took too long to look before the retry was due";
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], std::make_pair(std::int64_t{2}, due_ms));
  ASSERT_TRUE(faults);
  EXPECT_EQ((*faults)["transient"], 0) << "retried " << due_ms - looked << " ms early";

  // When due it runs once more, fails, and the budget is spent; never seen
  // run at a time before it was due.
  json bus;
  std::int64_t ran_early_by = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        auto f = cli::query(*cfg, "payment", "faults", json::object(), 5s);
        const auto answered = wire::now_ms();
        if (f && (*f)["transient"] != 0 && answered < due_ms)
          ran_early_by = std::max(ran_early_by, due_ms - answered);
        auto s = cli::status(*cfg, *cfg->find_node("payment"), 5s);
        if (s)
          bus = (*s)["bus"];
        return s && bus["retries_exhausted"] == 1;
      },
      30s))
      << bus.dump(1);
  EXPECT_EQ(ran_early_by, 0) << "the retry ran at least " << ran_early_by << " ms before it was due";
  EXPECT_GE(wire::now_ms(), due_ms);
  faults = cli::query(*cfg, "payment", "faults", json::object(), 5s);
  ASSERT_TRUE(faults);
  EXPECT_EQ((*faults)["transient"], 1) << faults->dump();
  EXPECT_TRUE(inbox_retries(c, "payment").empty());
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

TEST(faults, a_wait_that_runs_out_still_counts_the_bookings_that_finished) {
  // Half the payments take 20 s: with a 5 s wait, some bookings finish and
  // some do not, and the summary must count both. A payment's answer is
  // held until the ones before it on its stream are in, so the dice are
  // seeded: with seed 36 the first six payments are not delayed (the delayed
  // ones, eight, come later).
  cluster c(shipped{"configs/flight.yaml", "faults:\n  payment: {delay: 20, delay-probability: 0.5, seed: 36}\n", "", ""});
  c.start();
  auto run = run_command({troupe_bin(), "book", c.config_path(), "--count", "20", "--rate", "200", "--seed", "3",
                          "--wait", "5", "--quiet", "--format", "json"},
                         60s);
  EXPECT_EQ(run.signal, 0) << run.output;
  const auto at = run.output.rfind("{\"bookings\"");
  const auto summary = json::parse(at == std::string::npos ? std::string() : run.output.substr(at), nullptr, false);
  ASSERT_TRUE(summary.is_object()) << run.output;
  const int finished = summary.value("confirmed", 0) + summary.value("cancelled", 0);
  EXPECT_GT(finished, 0) << "bookings that finished within the wait are counted\n" << run.output;
  EXPECT_GT(summary.value("pending", 0), 0) << "the delayed ones are still pending\n" << run.output;
  EXPECT_EQ(finished + summary.value("pending", 0) + summary.value("dead_lettered", 0), 20) << run.output;
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

TEST(faults, the_shipped_faults_run_on_the_shipped_cluster) {
  // configs/faults.yaml is the section scripts/demo.sh appends to
  // configs/flight.yaml for its second run: checked and run the same way.
  std::ifstream in(source_file("configs/faults.yaml"));
  std::stringstream faults_yaml;
  faults_yaml << in.rdbuf();
  ASSERT_NE(faults_yaml.str().find("faults:"), std::string::npos) << source_file("configs/faults.yaml");
  cluster c(shipped{"configs/flight.yaml", faults_yaml.str(), "", ""});
  auto check = run_command({troupe_bin(), "check", c.config_path()}, 10s);
  ASSERT_EQ(check.code, 0) << check.output;
  EXPECT_NE(check.output.find("ok (6 nodes, 8 rules, CurveZMQ on every socket"), std::string::npos) << check.output;
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->faults.size(), 3u) << "payment, seat and notification";
  c.start();

  // A generated mix through transient payment failures, seat crashes and the
  // email server's outage, then one booking that payment refuses as poison.
  auto mix = run_command({troupe_bin(), "book", c.config_path(), "--count", "40", "--rate", "40", "--seed", "5",
                          "--wait", "90", "--quiet", "--format", "json"},
                         150s);
  EXPECT_EQ(mix.signal, 0) << mix.output;
  ASSERT_EQ(mix.code, 0) << mix.output;
  const auto at = mix.output.rfind("{\"bookings\"");
  const auto summary = json::parse(at == std::string::npos ? std::string() : mix.output.substr(at), nullptr, false);
  ASSERT_TRUE(summary.is_object()) << mix.output;
  EXPECT_EQ(summary["bookings"], 40) << mix.output;
  EXPECT_EQ(summary["pending"], 0) << mix.output;
  EXPECT_EQ(summary["dead_lettered"], 0) << mix.output;
  auto poison = run_command({troupe_bin(), "book", c.config_path(), "--customer", "Mallory Smith", "--email",
                             "mallory@example.com", "--wait", "60"},
                            90s);
  EXPECT_EQ(poison.code, 1) << poison.output;
  EXPECT_NE(poison.output.find("DEAD-LETTERED at payment"), std::string::npos) << poison.output;
  EXPECT_NE(poison.output.find("PERMANENT_ERROR"), std::string::npos) << poison.output;

  auto payment = cli::query(*cfg, "payment", "faults", json::object(), 5s);
  ASSERT_TRUE(payment);
  EXPECT_GT((*payment)["transient"], 0) << payment->dump();
  EXPECT_EQ((*payment)["poison"], 1) << payment->dump();
  auto notification = cli::query(*cfg, "notification", "faults", json::object(), 5s);
  ASSERT_TRUE(notification);
  EXPECT_GT((*notification)["outage"], 0) << notification->dump();

  // Every email is sent once the outage is over, and the saga holds.
  auto audit = run_command({troupe_bin(), "audit", c.config_path(), "--wait", "90"}, 120s);
  EXPECT_EQ(audit.code, 0) << audit.output;
  EXPECT_NE(audit.output.find("1 dead-lettered"), std::string::npos) << audit.output;
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

} // namespace
} // namespace troupe::test
