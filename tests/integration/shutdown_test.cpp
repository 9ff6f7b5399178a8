// Stopping a node is a clean exit, whatever it is doing: the nodes of the
// shipped configs/flight.yaml (with larger cabins) run by themselves (no
// launcher), bookings flow the whole time, and
// nodes are stopped with SIGTERM again and again, among them origins while
// they serve a replay and consumers while they take one. Every stop must
// exit 0 with nothing wrong in the node's log (in an AddressSanitizer
// build: no report), and afterwards `troupe audit` must pass.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "store/node_store.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// Eight flights of 5,200 seats that do not fill up in a run (so that
/// tickets, and their emails, flow to the end), and TR300, full after 8
/// bookings (so that refunds and cancellations flow too).
const char* services = R"(services:
  payment:
    gateway: {declined-cards: ["4000000000000002"], default-limit: 10000}
  seat:
    flights:
      W0: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      W1: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      W2: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      W3: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      W4: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      W5: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      W6: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      W7: {rows: 200, layout: "ABCDEFGHIJKLM NOPQRSTUVWXYZ"}
      TR300: {rows: 2, layout: "AB CD"}
  notification:
    maildir: mail
    from: "troupe <bookings@troupe.test>"
)";

/// Booking number `i`: one in ten on TR300, cards declined (1 in 13) and
/// amounts over the limit (1 in 17).
std::string booking(int i) {
  const json d{{"customer", "S" + std::to_string(i)},
               {"email", "s" + std::to_string(i) + "@example.com"},
               {"flight", i % 10 == 9 ? "TR300" : "W" + std::to_string(i % 8)},
               {"seat_preference", "any"},
               {"amount", i % 17 == 0 ? 20000 : 100 + i % 50},
               {"card", i % 13 == 0 ? "4000000000000002" : "4111111111111111"}};
  std::string detail;
  json::to_msgpack(d, detail);
  return detail;
}

/// What a node's log must never show: an uncaught exception, a sanitizer's
/// report, a crash.
const std::vector<std::string> crash_marks = {"terminate called", "AddressSanitizer", "LeakSanitizer",
                                              "runtime error:",   "Segmentation fault", "double free",
                                              "stack smashing"};

/// The lines of a node's log around the first crash mark, or its last lines.
std::string excerpt(const std::string& log) {
  std::size_t at = std::string::npos;
  for (const auto& mark : crash_marks)
    at = std::min(at, log.find(mark));
  if (at != std::string::npos)
    return log.substr(at > 2000 ? at - 2000 : 0, 12000);
  return log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
}

/// Events of `stream` in `node`'s outbox (not yet acked by every
/// consumer); -1 when its store cannot be read.
std::int64_t outbox_rows(const cluster& c, const std::string& node, const std::string& stream) {
  auto db = store::open_read_only((c.node_data_dir(node) / "node.db").string());
  if (!db)
    return -1;
  auto s = db->prepare("SELECT count(*) FROM outbox WHERE stream = '" + stream + "'");
  if (!s)
    return -1;
  auto row = s->step();
  return row && *row ? s->int64(0) : -1;
}

/// One counter of `node`'s bus, from its status; -1 when it does not answer.
std::int64_t bus_counter(const troupe::cluster::config& cfg, const std::string& node, const char* name) {
  auto s = cli::status(cfg, *cfg.find_node(node), 500ms);
  return s ? (*s)["bus"].value(name, std::int64_t{-1}) : -1;
}

/// SIGTERM to `node`, and its exit status; -1 when it was still running
/// after 30 s (it is then killed).
int terminate(cluster& c, const std::string& node) {
  c.signal_node(node, SIGTERM);
  return c.wait_node(node, 30s);
}

TEST(shutdown, sigterm_under_load_and_during_replay_exits_cleanly_every_time) {
  cluster c(shipped{"configs/flight.yaml", "", services, ""});
  const auto t0 = std::chrono::steady_clock::now();
  const auto seconds = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  for (const auto& n : cfg->nodes)  // the five flight nodes and the DLQ's
    c.start_node(n.name);
  {
    auto ready = cli::wait_ready(*cfg, 30s);
    ASSERT_TRUE(ready) << ready.err().message;
  }

  // Bookings go in for the whole run, 10 per PutEvents call, at most about
  // 400 a second, and as fast as the booking node takes them while a
  // backlog builds; only the acknowledged ones are certainly made (a call
  // cut by a stop may or may not have been).
  std::atomic<std::size_t> acked{0};
  std::atomic<bool> stop{false}, burst{false};
  std::thread producer([&] {
    int i = 0;
    auto next = std::chrono::steady_clock::now();
    while (!stop) {
      next += burst ? 0ms : 25ms;
      wire::client client(c.control("booking"), c.curve("booking"));
      wire::control_request req;
      req.verb = "put";
      for (int k = 0; k < 10; ++k, ++i)
        req.entries.push_back({"shutdown", "BookingRequested", booking(i), "", {}, {}});
      auto rep = client.call(req, 2s);
      if (rep && rep->ok)
        acked += rep->results.size();
      const auto now = std::chrono::steady_clock::now();
      if (next < now)
        next = now;
      std::this_thread::sleep_until(next);
    }
  });

  // Failures are noted, the producer joined, and only then asserted, so
  // that no thread outlives the test.
  std::string failure;
  std::size_t sigterms = 0, replays_cut = 0;
  const auto stop_node = [&](const std::string& node, const std::string& when) {
    const int code = terminate(c, node);
    ++sigterms;
    if (code != 0)
      failure = node + (code == -1 ? std::string(" did not exit within 30 s of SIGTERM ")
                                   : " exited with status " + std::to_string(code) + " on SIGTERM ")
                + when + "\n" + excerpt(c.node_output(node));
    return code == 0;
  };
  const auto restart = [&](const std::string& node) {
    c.start_node(node);
    if (!c.node_answers(node, 30s))
      failure = node + " did not come back\n" + excerpt(c.node_output(node));
    return failure.empty();
  };
  const auto load_flows = [&](std::size_t n) {
    const auto before = acked.load();
    if (!wait_until([&] { return acked.load() >= before + n; }, 15s))
      failure = "bookings stopped: " + std::to_string(acked.load()) + " acknowledged";
    return failure.empty();
  };

  // Every node stopped once while bookings flow through it.
  for (const auto& node : node_names)
    if (!load_flows(100) || !stop_node(node, "under load") || !restart(node))
      break;
  std::printf("shutdown: %.1fs: every node stopped once under load\n", seconds());

  // Replays: the consumer is stopped, the events of a stream it takes pile
  // up in the origin's outbox, it starts again and asks for them, and as
  // soon as the origin has begun to serve, one of the two is stopped.
  struct replay_round {
    std::string origin, stream, consumer, victim;
  };
  const std::vector<replay_round> rounds = {
      {"booking", "BookingCreated", "payment", "booking"}, {"booking", "BookingCreated", "payment", "payment"},
      {"payment", "PaymentConfirmed", "seat", "payment"},  {"seat", "SeatAssigned", "ticket", "ticket"},
      {"ticket", "TicketIssued", "notification", "ticket"}, {"payment", "PaymentConfirmed", "seat", "seat"},
  };
  for (const auto& r : rounds) {
    if (!failure.empty() || !load_flows(50) || !stop_node(r.consumer, "before a replay"))
      break;
    // Let the backlog build: more than one replay batch (2,000 events).
    const auto from = outbox_rows(c, r.origin, r.stream);
    burst = true;
    wait_until([&] { return outbox_rows(c, r.origin, r.stream) >= from + 2200; }, 5s);
    burst = false;
    // The consumer has taken events of a replay (its counters start at 0):
    // the origin is serving it (a batch at a time).
    if (!restart(r.consumer))
      break;
    if (!wait_until([&] { return bus_counter(*cfg, r.consumer, "replayed_in") > 0; }, 20s)) {
      failure = r.origin + " replayed nothing to " + r.consumer + "\n" + excerpt(c.node_output(r.consumer));
      break;
    }
    const auto backlog = outbox_rows(c, r.origin, r.stream);
    replays_cut += backlog > 2000;
    std::printf("shutdown: %.1fs: %s replays %lld %s to %s; SIGTERM to %s\n", seconds(), r.origin.c_str(),
                static_cast<long long>(backlog), r.stream.c_str(), r.consumer.c_str(), r.victim.c_str());
    if (!stop_node(r.victim, "while " + r.origin + " replays " + r.stream + " to " + r.consumer)
        || !restart(r.victim))
      break;
    if (r.victim != r.consumer && !c.node_answers(r.consumer, 30s)) {
      failure = r.consumer + " does not answer\n" + excerpt(c.node_output(r.consumer));
      break;
    }
  }
  stop = true;
  producer.join();
  ASSERT_TRUE(failure.empty()) << failure;
  EXPECT_EQ(sigterms, node_names.size() + 2 * rounds.size());
  EXPECT_GE(replays_cut, 1u) << "no stop came while a replay had more than one batch to go";

  // Every booking reaches a final state, and the audit finds nothing wrong.
  auto audit = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json", "--wait", "90"}, 120s);
  EXPECT_EQ(audit.code, 0) << audit.output;
  const auto brace = audit.output.find('{');
  const auto report = brace == std::string::npos ? json() : json::parse(audit.output.substr(brace), nullptr, false);
  if (report.is_object() && report.contains("bookings") && report["bookings"].is_object()) {
    const auto& by_state = report["bookings"];
    EXPECT_EQ(by_state.value("PENDING", -1), 0) << by_state.dump();
    EXPECT_GE(by_state.value("CONFIRMED", std::size_t{0}) + by_state.value("CANCELLED", std::size_t{0}),
              acked.load())
        << by_state.dump();
    EXPECT_TRUE(report.value("violations", json::array()).empty()) << report.dump(2);
    std::printf("shutdown: %.1fs: %zu bookings acknowledged, %s; %zu SIGTERMs under load, %zu during a replay "
                "of more than one batch\n",
                seconds(), acked.load(), by_state.dump().c_str(), sigterms, replays_cut);
  } else {
    ADD_FAILURE() << "no report from the audit: " << audit.output;
  }

  // At rest too; then no log shows a crash or a sanitizer's report.
  for (const auto& n : cfg->nodes) {
    const auto& node = n.name;
    EXPECT_EQ(terminate(c, node), 0) << node << " at rest\n" << excerpt(c.node_output(node));
    std::printf("shutdown: %.1fs: %s stopped at rest\n", seconds(), node.c_str());
  }
  for (const auto& n : cfg->nodes) {
    const auto& node = n.name;
    const auto log = c.node_output(node);
    for (const auto& mark : crash_marks)
      EXPECT_EQ(log.find(mark), std::string::npos) << node << "'s log shows \"" << mark << "\":\n" << excerpt(log);
  }
}

} // namespace
} // namespace troupe::test
