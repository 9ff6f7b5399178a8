// `troupe audit` failing, as an operator meets it: the shipped flight
// cluster books and stops cleanly, and the audit passes; then its stores
// (real node databases, written through the store's own API) are given, one
// at a time, a booking charged twice, an event left unacked past its
// maximum age, and a delivery left in an inbox. After each the offline
// audit must exit 1 and name every problem so far, and nothing else.
//
// Then the audit as it runs by default, asking the nodes of a keyed
// cluster over their control sockets: the same report as the offline one
// on the same stores; a node that does not answer named, the answer
// incomplete (exit 3); a store larger than many pages read whole; a
// producer's key refused the read; a malformed read answered with an
// error by a node that goes on serving.
#include <gtest/gtest.h>

#include <thread>

#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <signal.h>

#include <sstream>

#include "apps/flight/cli/flight_audit.hpp"
#include "launcher/common.hpp"
#include "store/node_store.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"
#include "wire/control.hpp"
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

/// `troupe audit CONFIG --offline`, on the stopped cluster's stores: its
/// exit code, output and VIOLATION lines.
struct audit_run {
  run_result r;
  std::vector<std::string> violations;
};
audit_run audit(const cluster& c) {
  audit_run a{run_command({troupe_bin(), "audit", c.config_path(), "--offline"}, 60s), {}};
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
  auto before = run_command({troupe_bin(), "audit", c.config_path(), "--offline", "--format", "json"}, 60s);
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
  auto j = run_command({troupe_bin(), "audit", c.config_path(), "--offline", "--format", "json"}, 60s);
  EXPECT_EQ(j.code, 1) << j.output;
  const auto report = json::parse(j.output, nullptr, false);
  ASSERT_TRUE(report.is_object()) << j.output;
  EXPECT_EQ(report["ok"], false);
  EXPECT_EQ(report["violations"].size(), 3u) << j.output;
  EXPECT_EQ(report["nodes"]["payment"]["inbox"], 1) << j.output;
  EXPECT_EQ(report["nodes"]["booking"]["outbox_unacked"], unacked_before + 1) << j.output;
}

// -- the audit over the nodes' control sockets ------------------------------------------

const std::vector<std::string> flight_nodes = {"booking", "payment", "seat", "ticket", "notification", "dlq"};

/// `troupe audit CONFIG --format json` with `extra` arguments: its run and
/// its report (null when it printed none).
std::pair<run_result, json> audit_json(const cluster& c, const std::vector<std::string>& extra = {},
                                       std::chrono::seconds timeout = 120s) {
  std::vector<std::string> argv{troupe_bin(), "audit", c.config_path(), "--format", "json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto r = run_command(argv, timeout);
  const auto brace = r.output.find('{');
  return {r, brace == std::string::npos ? json() : json::parse(r.output.substr(brace), nullptr, false)};
}

/// Starts each node of the shipped flight cluster by itself (no launcher,
/// so that a test can stop one for good) and waits until all answer.
void start_nodes(cluster& c) {
  for (const auto& n : flight_nodes)
    c.start_node(n);
  for (const auto& n : flight_nodes)
    ASSERT_TRUE(c.node_answers(n, 20s)) << n << "\n" << c.node_output(n);
}

std::uint64_t pages_read(const troupe::cluster::config& cfg, const std::string& node) {
  auto s = cli::status(cfg, *cfg.find_node(node), 5s);
  return s ? (*s)["bus"].value("pages_read", std::uint64_t{0}) : 0;
}

TEST(audit, online_on_a_running_keyed_cluster_equals_offline_on_its_stopped_stores) {
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  ASSERT_TRUE(c.keyed());
  c.start();
  auto booked = run_command(book_command(c, 40, 100, 7, 60, 30), 120s);
  ASSERT_EQ(booked.code, 0) << booked.output;
  const auto summary = book_summary(booked.output);
  ASSERT_TRUE(summary.is_object()) << booked.output;

  auto [settled, passed] = audit_json(c, {"--wait", "60"});
  ASSERT_EQ(settled.code, 0) << settled.output;
  EXPECT_EQ(passed["complete"], true) << settled.output;
  EXPECT_EQ(passed["unreachable"], json::array()) << settled.output;
  EXPECT_EQ(passed["emails"], 40) << settled.output;
  EXPECT_EQ(passed["bookings"]["CONFIRMED"].get<int>() + passed["bookings"]["CANCELLED"].get<int>(), 40)
      << settled.output;
  // The cluster is at rest once two audits a second apart say the same
  // (the last acks, sent with heartbeats every few hundred ms, prune what
  // the consumers took; two audits in a row can fall between two of them).
  json online = passed, again;
  ASSERT_TRUE(wait_until(
      [&] {
        std::this_thread::sleep_for(1s);
        again = audit_json(c).second;
        const bool same = again == online;
        online = again;
        return same;
      },
      60s))
      << online.dump();
  ASSERT_EQ(c.stop(), 0) << c.launcher_output();

  auto [stopped, offline] = audit_json(c, {"--offline"});
  EXPECT_EQ(stopped.code, 0) << stopped.output;
  EXPECT_EQ(online, offline) << "online:  " << online.dump() << "\noffline: " << offline.dump();
  // Without --offline the stopped nodes are named, each of them.
  auto [down, report] = audit_json(c, {}, 60s);
  EXPECT_EQ(down.code, cli::audit_incomplete) << down.output;
  EXPECT_EQ(report["unreachable"].size(), flight_nodes.size()) << down.output;
}

TEST(audit, a_node_that_does_not_answer_is_named_and_the_answer_is_incomplete) {
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  start_nodes(c);
  auto booked = run_command(book_command(c, 5, 50, 3, 60, 30), 120s);
  ASSERT_EQ(booked.code, 0) << booked.output;
  auto [settled, passed] = audit_json(c, {"--wait", "60"});
  ASSERT_EQ(settled.code, 0) << settled.output;

  c.signal_node("payment", SIGTERM);
  ASSERT_EQ(c.wait_node("payment"), 0) << c.node_output("payment");
  const auto t0 = std::chrono::steady_clock::now();
  auto [incomplete, report] = audit_json(c);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(incomplete.code, cli::audit_incomplete) << incomplete.output;
  ASSERT_TRUE(report.is_object()) << incomplete.output;
  EXPECT_EQ(report["complete"], false);
  EXPECT_EQ(report["ok"], false);
  ASSERT_EQ(report["unreachable"].size(), 1u) << incomplete.output;
  EXPECT_EQ(report["unreachable"][0]["node"], "payment");
  EXPECT_NE(report["unreachable"][0]["error"].get<std::string>().find("no reply"), std::string::npos)
      << incomplete.output;
  EXPECT_FALSE(report["nodes"].contains("payment")) << incomplete.output;
  EXPECT_TRUE(report["nodes"].contains("booking")) << incomplete.output;
  // What could be read is still judged: the bookings are counted, and
  // their charges, on the node not read, are missing.
  EXPECT_EQ(report["bookings"]["CONFIRMED"].get<int>() + report["bookings"]["CANCELLED"].get<int>(), 5);
  EXPECT_FALSE(report["violations"].empty()) << incomplete.output;
  // One timeout for the node that does not answer, not one per request.
  EXPECT_LT(took, 20s);

  auto table = run_command({troupe_bin(), "audit", c.config_path()}, 60s);
  EXPECT_EQ(table.code, cli::audit_incomplete) << table.output;
  EXPECT_NE(table.output.find("UNREACHABLE: node payment: "), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("audit INCOMPLETE: 1 node not read (payment)"), std::string::npos) << table.output;
  // --wait looks again until the node is back.
  background_command waiting({troupe_bin(), "audit", c.config_path(), "--wait", "60"});
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(waiting.running());
  c.start_node("payment");
  auto waited = waiting.wait(90s);
  EXPECT_EQ(waited.code, 0) << waited.output;
  EXPECT_NE(waited.output.find("audit passed: 0 violations"), std::string::npos) << waited.output;
}

/// A PENDING booking row as the booking service stores it, with `pad`
/// bytes of padding in its customer's name.
std::string pending_booking(const std::string& id, std::uint64_t seq, std::size_t pad) {
  return json{{"id", id},
              {"state", "PENDING"},
              {"customer", "Customer " + std::string(pad, 'x')},
              {"email", "c@example.com"},
              {"flight", "TR100"},
              {"seat_preference", "any"},
              {"amount", 100},
              {"created_ms", 1},
              {"updated_ms", 1},
              {"seq", seq}}
      .dump();
}

TEST(audit, a_store_of_many_pages_is_read_whole_however_it_is_paged) {
  // 20,000 bookings of about 500 bytes: 10 MB, more than a page holds by
  // rows (2,000 by default) and by bytes (4 MiB at 10,000 rows a page).
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  constexpr std::size_t count = 20000;
  std::filesystem::create_directories(c.node_data_dir("booking"));
  edit_store(c, "booking", [](store::txn& t) -> result<void> {
    for (std::size_t i = 0; i < count; ++i) {
      const auto id = "B-" + std::to_string(100000 + i);
      TROUPE_TRY(t.state_put("booking", "bookings", id, pending_booking(id, i + 1, 400)));
    }
    return {};
  });
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  struct row {
    const char* name;
    std::vector<std::string> args;
    std::uint64_t pages;  // at least, of booking's store
  };
  const row rows[] = {{"default pages", {}, count / 2000},
                      {"the most rows a page, cut by bytes", {"--page-rows", "10000"}, 3},
                      {"small pages", {"--page-rows", "500"}, count / 500}};
  json first;
  for (const auto& r : rows) {
    const auto before = pages_read(*cfg, "booking");
    auto args = r.args;
    args.push_back("--allow-in-flight");
    auto [run, report] = audit_json(c, args);
    ASSERT_EQ(run.code, 0) << r.name << "\n" << run.output.substr(0, 5000);
    EXPECT_EQ(report["bookings"]["PENDING"], count) << r.name;
    EXPECT_EQ(report["in_flight"].size(), count) << r.name;
    EXPECT_GE(pages_read(*cfg, "booking") - before, r.pages) << r.name;
    if (first.is_null())
      first = report;
    else
      EXPECT_EQ(report, first) << r.name;
  }
  ASSERT_EQ(c.stop(), 0) << c.launcher_output();
  auto [stopped, offline] = audit_json(c, {"--offline", "--allow-in-flight"});
  EXPECT_EQ(stopped.code, 0) << stopped.output.substr(0, 5000);
  EXPECT_EQ(offline, first);
}

TEST(audit, a_producer_is_refused_the_read_and_a_malformed_read_gets_an_error_from_a_node_that_goes_on) {
  // A keyed cluster of two nodes with a client that may only put.
  cluster c({{"one", {"sink"}}, {"two", {"dlq"}}},
            "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink, "
            "dead-letter-queue: dlq}\n");
  ASSERT_TRUE(c.keyed());
  c.add_client("kiosk", "[producer]");
  c.start();

  // The node says why, naming the role; the audit names every node.
  wire::client producer(c.control("one"), c.curve("one", "kiosk"));
  wire::control_request read;
  read.verb = "read";
  read.limit = 100;
  auto refused = producer.call(read, 5s);
  ASSERT_TRUE(refused) << refused.err().to_string();
  EXPECT_FALSE(refused->ok);
  EXPECT_EQ(refused->body, "AccessDenied: client 'kiosk' lacks the role 'reader' that 'read' needs");
  auto as_kiosk = run_command({troupe_bin(), "--client", "kiosk", "audit", c.config_path(), "--format", "json"}, 60s);
  EXPECT_EQ(as_kiosk.code, cli::audit_incomplete) << as_kiosk.output;
  const auto report = json::parse(as_kiosk.output.substr(std::min(as_kiosk.output.find('{'), as_kiosk.output.size())),
                                  nullptr, false);
  ASSERT_TRUE(report.is_object()) << as_kiosk.output;
  ASSERT_EQ(report["unreachable"].size(), 2u) << as_kiosk.output;
  for (const auto& u : report["unreachable"])
    EXPECT_NE(u["error"].get<std::string>().find("lacks the role 'reader' that 'read' needs"), std::string::npos)
        << u.dump();

  // Malformed reads from a reader: each answered with an error, and the
  // node goes on reading for the next.
  wire::client reader(c.control("one"), c.curve("one"));
  wire::control_request bad = read;
  bad.limit = 0;
  auto r = reader.call(bad, 5s);
  ASSERT_TRUE(r) << r.err().to_string();
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->body.find("limit must be 1 to 10000"), std::string::npos) << r->body;
  bad.limit = wire::max_read_rows + 1;
  r = reader.call(bad, 5s);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  bad = read;
  bad.services.assign(wire::max_read_services + 1, "one");
  r = reader.call(bad, 5s);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->body.find("more than 64 services"), std::string::npos) << r->body;
  // Bytes that are no read at all: the verb, then a string where the
  // services go.
  {
    zmq::context_t ctx;
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    const auto creds = *c.curve("one");
    dealer.set(zmq::sockopt::curve_serverkey, creds.server_key);
    dealer.set(zmq::sockopt::curve_publickey, creds.own.public_key);
    dealer.set(zmq::sockopt::curve_secretkey, creds.own.secret_key);
    dealer.connect(c.control("one"));
    const std::string junk("\x95\x01\xa4read\xa1x\x90\x0a", 11);
    dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
    dealer.send(zmq::buffer(junk), zmq::send_flags::none);
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    ASSERT_EQ(zmq::poll(&item, 1, 5000ms), 1) << "no answer to a malformed read";
    std::vector<zmq::message_t> parts;
    ASSERT_TRUE(zmq::recv_multipart(dealer, std::back_inserter(parts)));
    ASSERT_EQ(parts.size(), 2u);
    auto rep = wire::decode_reply(parts[1].to_string_view(), "read");
    ASSERT_TRUE(rep) << rep.err().to_string();
    EXPECT_FALSE(rep->ok);
    EXPECT_NE(rep->body.find("services is not an array of strings"), std::string::npos) << rep->body;
  }
  auto good = reader.call(read, 5s);
  ASSERT_TRUE(good) << good.err().to_string();
  EXPECT_TRUE(good->ok) << good->body;
  auto [after, passed] = audit_json(c, {"--wait", "30"});
  EXPECT_EQ(after.code, 0) << after.output;
  EXPECT_EQ(passed["complete"], true);
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

} // namespace
} // namespace troupe::test
