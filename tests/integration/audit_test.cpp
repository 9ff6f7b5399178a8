// `troupe audit` failing, as an operator meets it: the shipped flight
// cluster books and stops cleanly, and the audit passes; then its stores
// (real node databases, written through the store's own API) are given, one
// at a time, a booking charged twice, an event left unacked past its
// maximum age, and a delivery left in an inbox. After each the audit must
// exit 1 and name every problem so far, and nothing else.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>

#include "launcher/common.hpp"
#include "store/node_store.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/envelope.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// Runs `job` in one transaction of `node`'s store (the node is stopped).
void edit_store(const cluster& c, const std::string& node, const store::node_store::job& job) {
  store::snapshot snap;
  auto s = store::node_store::open((c.node_data_dir(node) / "node.db").string(), store::durability::os, snap);
  if (!s) {
    ADD_FAILURE() << node << ": " << s.err().message;
    return;
  }
  (*s)->fatal = [node](const std::string& why) { ADD_FAILURE() << node << ": " << why; };
  (*s)->submit(job);
  (*s)->stop();
}

/// A BookingCreated event of the booking node for `booking_id`, made at `time_ms`.
std::string booking_created(const std::string& booking_id, std::uint64_t seq, std::int64_t time_ms) {
  wire::envelope e;
  e.id = wire::make_uuid();
  e.source = "troupe.booking";
  e.detail_type = "BookingCreated";
  e.time_ms = time_ms;
  e.origin = "booking";
  e.epoch = 1;
  e.seq = seq;
  e.correlation_id = booking_id;
  json::to_msgpack(json{{"booking_id", booking_id}, {"amount", 100}, {"card", "4111111111111111"}}, e.detail);
  std::string out;
  auto r = wire::encode(e, out);
  EXPECT_TRUE(r) << r.err().to_string();
  return out;
}

/// `troupe audit CONFIG`: its exit code, output and VIOLATION lines.
struct audit_run {
  run_result r;
  std::vector<std::string> violations;
};
audit_run audit(const cluster& c) {
  audit_run a{run_command({troupe_bin(), "audit", c.config_path()}, 60s), {}};
  std::istringstream lines(a.r.output);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("VIOLATION: ", 0) == 0)
      a.violations.push_back(line.substr(11));
  return a;
}

TEST(audit, names_a_double_charge_an_expired_event_and_a_leftover_delivery) {
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  auto booked = run_command({troupe_bin(), "book", c.config_path(), "--customer", "Ada Lovelace", "--email",
                             "ada@example.com", "--wait", "60"},
                            90s);
  ASSERT_EQ(booked.code, 0) << booked.output;
  ASSERT_NE(booked.output.find("CONFIRMED"), std::string::npos) << booked.output;
  auto payments = cli::query(*cfg, "payment", "payments", json::object(), 5s);
  ASSERT_TRUE(payments && payments->size() == 1) << (payments ? payments->dump() : payments.err().message);
  const auto payment = (*payments)[0];
  const auto id = payment["booking_id"].get<std::string>();
  ASSERT_EQ(payment["state"], "CHARGED") << payment.dump();
  // The email may still be on its way: the cluster stops once the audit
  // passes on it running.
  auto settled = run_command({troupe_bin(), "audit", c.config_path(), "--wait", "30"}, 60s);
  ASSERT_EQ(settled.code, 0) << settled.output;
  ASSERT_EQ(c.stop(), 0) << c.launcher_output();

  auto clean = audit(c);
  ASSERT_EQ(clean.r.code, 0) << clean.r.output;
  ASSERT_NE(clean.r.output.find("audit passed: 0 violations"), std::string::npos) << clean.r.output;
  // Events the cluster stopped before its consumers' acks pruned them are
  // kept, and are no violation while within their age: the baseline.
  auto before = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json"}, 60s);
  const auto baseline = json::parse(before.output, nullptr, false);
  ASSERT_TRUE(baseline.is_object()) << before.output;
  const auto unacked_before = baseline["nodes"]["booking"]["outbox_unacked"].get<int>();

  // 1. The booking charged a second time: a second store holds a charge for
  //    it (as a node that ran payment before the config moved it would).
  json second = payment;
  second["seq"] = 2;
  edit_store(c, "seat", [&](store::txn& t) { return t.state_put("payment", "payments", id, second.dump()); });
  auto a = audit(c);
  EXPECT_EQ(a.r.signal, 0) << a.r.output;
  EXPECT_EQ(a.r.code, 1) << a.r.output;
  ASSERT_EQ(a.violations.size(), 1u) << a.r.output;
  EXPECT_EQ(a.violations[0], "booking " + id + " was charged 2 times (PAY-" + id + ", PAY-" + id + ")") << a.r.output;

  // 2. An event of the booking node that a consumer never acked, made a
  //    minute past the longest maximum event age of the rules routing it.
  const auto age = cfg->event_age_of("BookingCreated");
  const auto old = wire::now_ms() - age.count() - 60000;
  edit_store(c, "booking", [&](store::txn& t) -> result<void> {
    return t.outbox_append("BookingCreated", 1000, old, booking_created(id, 1000, old));
  });
  a = audit(c);
  EXPECT_EQ(a.r.code, 1) << a.r.output;
  ASSERT_EQ(a.violations.size(), 2u) << a.r.output;
  EXPECT_NE(a.r.output.find("VIOLATION: node booking: 1 events not acked by every consumer within the maximum "
                            "event age"),
            std::string::npos)
      << a.r.output;

  // 3. A delivery left in payment's inbox, as a node that stopped before
  //    handling it leaves it.
  edit_store(c, "payment", [&](store::txn& t) -> result<void> {
    auto row = t.inbox_add("payment", "charge-new-bookings", booking_created(id, 1001, wire::now_ms()));
    if (!row)
      return row.err();
    return {};
  });
  a = audit(c);
  EXPECT_EQ(a.r.code, 1) << a.r.output;
  ASSERT_EQ(a.violations.size(), 3u) << a.r.output;
  EXPECT_NE(a.r.output.find("VIOLATION: node payment: 1 deliveries still in the inbox"), std::string::npos)
      << a.r.output;
  EXPECT_NE(a.r.output.find("VIOLATION: booking " + id + " was charged 2 times"), std::string::npos) << a.r.output;
  EXPECT_NE(a.r.output.find("audit FAILED: 3 violations"), std::string::npos) << a.r.output;

  // The same as JSON.
  auto j = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json"}, 60s);
  EXPECT_EQ(j.code, 1) << j.output;
  const auto report = json::parse(j.output, nullptr, false);
  ASSERT_TRUE(report.is_object()) << j.output;
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["violations"].size(), 3u) << j.output;
  EXPECT_EQ(report["nodes"]["payment"]["inbox"], 1) << j.output;
  EXPECT_EQ(report["nodes"]["booking"]["outbox_unacked"], unacked_before + 1) << j.output;
}

} // namespace
} // namespace troupe::test
