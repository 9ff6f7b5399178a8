// The live page (`troupe dashboard`) in front of the keyed flight cluster
// (configs/flight.yaml as shipped, on free ports, with a poison fault at
// payment so that a dead letter is made): its JSON API from C++, and the
// page itself in Debian's headless Chromium, driven by playwright-core
// (tests/clients/js, pinned in its package-lock.json). A missing chromium,
// node or `npm ci` fails the case, as the gateway's JavaScript case does.
//
// TROUPE_DASHBOARD_SCREENSHOT=FILE keeps the page's screenshot there too
// (docs/img/dashboard.png was taken so).
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Poison fails for good at payment; a "Hostile" request at booking itself,
// so that its dead letter keeps the correlation id it was put with.
const char* const poison_fault = R"(faults:
  payment: {poison: {"detail": {"customer": [{"prefix": "Poison"}]}}}
  booking: {poison: {"detail": {"customer": [{"prefix": "Hostile"}]}}}
)";

const std::string operator_key = "k3y-for-the-operator-0123456789";

std::string node_bin() {
  const char* n = std::getenv("TROUPE_TEST_NODE");
  return n && *n ? n : "/usr/bin/node";
}

/// One booking on TR100 put straight on the booking node, with `corr` as
/// its correlation id when given; its event id.
std::string put_booking(cluster& c, const std::string& customer, const std::string& corr = "",
                        const std::string& type = "BookingRequested") {
  wire::client client(c.control("booking"), c.curve("booking"));
  wire::control_request req;
  req.verb = "put";
  std::string detail;
  json::to_msgpack(json{{"customer", customer}, {"email", "x@example.com"}, {"flight", "TR100"},
                        {"seat_preference", "aisle"}, {"amount", 120}, {"card", "4111111111111111"}},
                   detail);
  req.entries.push_back({"troupe.client", type, detail, corr, {}, {}});
  auto rep = client.call(req, 10s);
  if (!rep || !rep->ok || rep->results.size() != 1 || !rep->results[0].ok())
    return "";
  return rep->results[0].id;
}

/// The flight cluster with a poison fault, and `troupe dashboard` in front
/// of it with (or without) an operator key.
class dashboard_cluster {
 public:
  explicit dashboard_cluster(bool with_key = true) : c_(shipped{"configs/flight.yaml", poison_fault, "", ""}) {
    c_.start();
    auto cfg = cli::load_config(c_.config_path());
    if (!cfg)
      throw std::runtime_error("the test config does not load");
    cfg_ = std::move(*cfg);
    port_ = free_port();
    std::vector<std::string> argv{troupe_bin(), "dashboard", c_.config_path(), "--listen",
                                  "127.0.0.1:" + std::to_string(port_)};
    if (with_key) {
      const auto key = c_.dir() / "operator.key";
      std::ofstream(key) << operator_key << "\n";
      chmod(key.c_str(), 0600);
      argv.insert(argv.end(), {"--operator-key-file", key.string()});
    }
    dashboard_ = std::make_unique<background_command>(argv);
    if (!wait_until([&] {
          return dashboard_->output().find("troupe dashboard: ") != std::string::npos || !dashboard_->running();
        }, 30s)
        || !dashboard_->running())
      throw std::runtime_error("troupe dashboard did not start:\n" + dashboard_->output());
  }

  cluster& c() { return c_; }
  const troupe::cluster::config& cfg() const { return cfg_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  std::string output() const { return dashboard_->output(); }
  background_command& process() { return *dashboard_; }

  /// GET `path`: status and JSON body (null when none came).
  std::pair<int, json> get(const std::string& path, const httplib::Headers& headers = {}) const {
    httplib::Client http("127.0.0.1", port_);
    http.set_read_timeout(20, 0);
    auto r = http.Get(path.c_str(), headers);
    if (!r)
      return {0, nullptr};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  std::pair<int, json> post(const std::string& path, const json& body, const httplib::Headers& headers) const {
    httplib::Client http("127.0.0.1", port_);
    http.set_read_timeout(30, 0);
    auto r = http.Post(path.c_str(), headers, body.dump(), "application/json");
    if (!r)
      return {0, nullptr};
    return {r->status, json::parse(r->body, nullptr, false)};
  }

  /// Waits until the DLQ has a letter of saga `corr`; its id, or empty.
  std::string letter_of(const std::string& corr, std::chrono::seconds timeout = 60s) const {
    std::string id;
    wait_until(
        [&] {
          const auto [status, body] = get("/api/dlq");
          if (status != 200)
            return false;
          for (const auto& l : body.value("letters", json::array()))
            if (l.value("correlation_id", "") == corr)
              id = l.value("id", "");
          return !id.empty();
        },
        timeout);
    return id;
  }

 private:
  cluster c_;
  troupe::cluster::config cfg_;
  int port_ = 0;
  std::unique_ptr<background_command> dashboard_;
};

/// `troupe book CONFIG --count N --rate R` in the background: bookings flow.
std::unique_ptr<background_command> bookings_flowing(cluster& c, int count, int rate) {
  return std::make_unique<background_command>(std::vector<std::string>{
      troupe_bin(), "book", c.config_path(), "--count", std::to_string(count), "--rate", std::to_string(rate),
      "--quiet", "--wait", "120"});
}

const json* edge(const json& graph, const std::string& from, const std::string& rule, const std::string& to) {
  for (const auto& e : graph["edges"])
    if (e["from"] == from && e["rule"] == rule && e["to"] == to)
      return &e;
  return nullptr;
}

TEST(dashboard, the_api_draws_the_graph_with_rates_traces_a_booking_and_redrives_with_the_operator_key) {
  dashboard_cluster d;
  const auto [info_status, info] = d.get("/api/info");
  ASSERT_EQ(info_status, 200) << d.output();
  EXPECT_EQ(info["cluster"], "flight");
  EXPECT_EQ(info["operator"], true);

  // The graph: the flight saga's rules as edges, from what each service emits.
  auto [graph_status, graph] = d.get("/api/graph");
  ASSERT_EQ(graph_status, 200);
  for (const auto& r : d.cfg().rules) {
    if (r.internal)
      continue;
    EXPECT_TRUE(std::any_of(graph["edges"].begin(), graph["edges"].end(),
                            [&](const json& e) { return e["rule"] == r.name && e["to"] == r.target; }))
        << r.name << " is not an edge: " << graph.dump();
  }
  EXPECT_TRUE(edge(graph, "PutEvents", "booking-requests", "booking")) << graph.dump();
  EXPECT_TRUE(edge(graph, "booking", "charge-new-bookings", "payment")) << graph.dump();
  EXPECT_TRUE(edge(graph, "seat", "ticket-for-seat", "ticket")) << graph.dump();
  EXPECT_TRUE(edge(graph, "ticket", "booking-outcomes", "booking")) << graph.dump();
  EXPECT_TRUE(edge(graph, "ticket", "confirmation-email", "notification")) << graph.dump();
  EXPECT_TRUE(edge(graph, "payment", "", "dlq")) << graph.dump();

  // Every node up, with all its peers.
  ASSERT_TRUE(wait_until(
      [&] {
        const auto [s, nodes] = d.get("/api/nodes");
        if (s != 200 || nodes["nodes"].size() != d.cfg().nodes.size())
          return false;
        for (const auto& n : nodes["nodes"])
          if (n["state"] != "up" || n.value("peers_connected", 0) != n.value("peers_expected", -1))
            return false;
        return true;
      },
      20s))
      << d.get("/api/nodes").second.dump();

  // Bookings flow: a rate shows.
  auto flow = bookings_flowing(d.c(), 200, 20);
  double best = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto [s, g] = d.get("/api/graph");
        for (const auto& e : g.value("edges", json::array()))
          best = std::max(best, e.value("per_s", 0.0));
        return best > 0;
      },
      30s))
      << d.get("/api/graph").second.dump() << "\n" << flow->output();

  // A booking's trace, from the request to its ticket.
  const auto booking = put_booking(d.c(), "Ada Lovelace");
  ASSERT_FALSE(booking.empty());
  json trace;
  EXPECT_TRUE(wait_until(
      [&] {
        auto [s, t] = d.get("/api/trace/" + booking);
        trace = t;
        return s == 200 && t.value("ended", json()) == "TicketIssued";
      },
      30s))
      << trace.dump();
  std::set<std::string> types;
  for (const auto& e : trace.value("events", json::array()))
    types.insert(e.value("type", ""));
  for (const char* t : {"BookingRequested", "BookingCreated", "PaymentConfirmed", "SeatAssigned", "TicketIssued"})
    EXPECT_TRUE(types.count(t)) << t << " missing from " << trace.dump();
  EXPECT_EQ(d.get("/api/trace/no-such-saga").first, 404);

  // Recent sagas, bounded; bad arguments are refused with a message.
  const auto [sagas_status, sagas] = d.get("/api/sagas?limit=5");
  ASSERT_EQ(sagas_status, 200);
  EXPECT_GE(sagas["sagas"].size(), 1u);
  EXPECT_LE(sagas["sagas"].size(), 5u);
  EXPECT_EQ(d.get("/api/sagas?limit=0").first, 400);
  EXPECT_EQ(d.get("/api/sagas?stuck=soon").first, 400);
  const auto [stuck_status, stuck] = d.get("/api/sagas?stuck=30s");
  EXPECT_EQ(stuck_status, 200) << stuck.dump();
  EXPECT_TRUE(stuck.contains("stuck_ms")) << stuck.dump();

  // A poison booking's dead letter, and its redrive: refused without the
  // key and with a wrong one, done with the right one.
  const auto poison = put_booking(d.c(), "Poison Pill");
  ASSERT_FALSE(poison.empty());
  const auto letter = d.letter_of(poison);
  ASSERT_FALSE(letter.empty()) << d.get("/api/dlq").second.dump();
  const json ids{{"ids", {letter}}};
  auto [no_key, no_key_body] = d.post("/api/dlq/redrive", ids, {});
  EXPECT_EQ(no_key, 403);
  EXPECT_NE(no_key_body.value("error", "").find("operator key"), std::string::npos) << no_key_body.dump();
  EXPECT_EQ(d.post("/api/dlq/redrive", ids, {{"X-Troupe-Operator-Key", operator_key + "x"}}).first, 403);
  EXPECT_EQ(d.post("/api/dlq/redrive", ids, {{"X-Troupe-Operator-Key", "k3y"}}).first, 403);
  auto [bad_id, bad_id_body] =
      d.post("/api/dlq/redrive", json{{"ids", {"no-such-letter"}}}, {{"X-Troupe-Operator-Key", operator_key}});
  EXPECT_EQ(bad_id, 409) << bad_id_body.dump();
  auto [ok, ok_body] = d.post("/api/dlq/redrive", ids, {{"X-Troupe-Operator-Key", operator_key}});
  EXPECT_EQ(ok, 200) << ok_body.dump();
  EXPECT_EQ(ok_body.value("redriven", json::array()), json::array({letter})) << ok_body.dump();
  // Still poison: it fails again, and comes back as a new letter.
  json again;
  EXPECT_TRUE(wait_until(
      [&] {
        again = d.get("/api/trace/" + poison).second;
        for (const auto& e : again.value("events", json::array()))
          for (const auto& dl : e.value("deliveries", json::array()))
            for (const auto& a : dl.value("attempts", json::array()))
              if (a.value("redrive", false))
                return true;
        return false;
      },
      30s))
      << again.dump();

  // A request for another host name (a page elsewhere rebinding its name
  // to 127.0.0.1) is refused; the page comes with its policy.
  EXPECT_EQ(d.get("/api/info", {{"Host", "evil.example:80"}}).first, 421);
  httplib::Client http("127.0.0.1", std::stoi(d.url().substr(d.url().rfind(':') + 1)));
  auto page = http.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("script-src 'sha256-"), std::string::npos);
  EXPECT_NE(page->body.find("Saga graph"), std::string::npos);
  for (const char* asset : {"src=", "href=", "@import", "url(http", "https://"})
    EXPECT_EQ(page->body.find(asset), std::string::npos) << "the page loads something (" << asset << ")";

  // SIGTERM stops it promptly, with its connections.
  const auto started = std::chrono::steady_clock::now();
  kill(d.process().pid(), SIGTERM);
  const auto r = d.process().wait(10s);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(dashboard, without_an_operator_key_file_nothing_is_redriven) {
  dashboard_cluster d(false);
  EXPECT_EQ(d.get("/api/info").second.value("operator", true), false);
  auto [status, body] = d.post("/api/dlq/redrive", json{{"ids", {"x"}}}, {{"X-Troupe-Operator-Key", operator_key}});
  EXPECT_EQ(status, 403);
  EXPECT_NE(body.value("error", "").find("--operator-key-file"), std::string::npos) << body.dump();
  // A key file others may read is refused, as every secret here is.
  const auto key = d.c().dir() / "open.key";
  std::ofstream(key) << operator_key << "\n";
  chmod(key.c_str(), 0644);
  auto r = run_command({troupe_bin(), "dashboard", d.c().config_path(), "--listen", "127.0.0.1:1",
                        "--operator-key-file", key.string()},
                       20s);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("0600"), std::string::npos) << r.output;
}

TEST(dashboard, headless_chromium_shows_rates_a_trace_and_escapes_what_events_carry) {
  const auto js = source_file("tests/clients/js");
  ASSERT_TRUE(std::filesystem::exists(node_bin())) << node_bin() << " is missing: install Node.js (scripts/setup.sh does)";
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium"))
      << "/usr/bin/chromium is missing: apt-get install chromium (scripts/setup.sh does)";
  ASSERT_TRUE(std::filesystem::exists(js + "/node_modules/playwright-core/package.json"))
      << "playwright-core is missing: run `npm ci` in tests/clients/js (scripts/test.sh does)";
  dashboard_cluster d;
  // A request dead-lettered at booking whose correlation id is markup, and
  // an event of that saga whose detail-type is markup: the page must show
  // both as text.
  const std::string hostile = "<img src=x onerror=window.__pwned=1>";
  ASSERT_FALSE(put_booking(d.c(), "Hostile <b>Ivy</b>", hostile).empty());
  ASSERT_FALSE(put_booking(d.c(), "Mallory", hostile, "<svg onload=window.__pwned=2>").empty());
  ASSERT_FALSE(d.letter_of(hostile).empty()) << d.get("/api/dlq").second.dump();
  auto flow = bookings_flowing(d.c(), 1200, 10);

  const auto shot = d.c().dir() / "dashboard.png";
  auto r = run_command({node_bin(), js + "/dashboard_check.js", d.url(), shot.string(), hostile}, 150s);
  ASSERT_EQ(r.code, 0) << r.output << "\ndashboard:\n" << d.output();
  std::istringstream lines(r.output);
  json out;
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{')
      out = json::parse(line, nullptr, false);
  ASSERT_TRUE(out.is_object()) << r.output;
  EXPECT_EQ(out.value("ok", false), true) << r.output;
  EXPECT_GT(out["rate"].value("rate", 0.0), 0) << r.output;
  const auto events = out["trace"].value("events", json::array());
  EXPECT_GE(events.size(), 3u) << r.output;
  EXPECT_EQ(out["nodes"], d.cfg().nodes.size()) << r.output;
  EXPECT_GE(out.value("letters", 0), 1) << r.output;
  const auto hostile_types = out["hostile"].value("types", json::array());
  EXPECT_TRUE(std::count(hostile_types.begin(), hostile_types.end(), "<svg onload=window.__pwned=2>")) << r.output;

  // A real PNG of a page with something on it.
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 30000u);
  std::ifstream png(shot, std::ios::binary);
  char magic[8] = {};
  png.read(magic, 8);
  EXPECT_EQ(std::string(magic, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  if (const char* keep = std::getenv("TROUPE_DASHBOARD_SCREENSHOT"); keep && *keep)
    std::filesystem::copy_file(shot, keep, std::filesystem::copy_options::overwrite_existing);
}

}  // namespace
}  // namespace troupe::test
