// Seeing the whole saga on the real cluster: every node's /metrics and the
// gateway's pass `promtool check metrics`, and a real Prometheus server
// scraping them counts each rule's invocations as the cluster did;
// `troupe trace` shows a saga with retries, a crashed handler, a node
// killed and a redrive, every event under its cause and every attempt;
// `troupe sagas --stuck` finds exactly the sagas a stopped node or a dead
// letter holds up.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

std::string tail(const std::string& s) { return s.substr(s.size() > 6000 ? s.size() - 6000 : 0); }

/// GET http://ADDRESS/PATH; the body, or why not.
std::pair<int, std::string> http_get(const std::string& address, const std::string& path) {
  const auto colon = address.rfind(':');
  httplib::Client c(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  c.set_connection_timeout(5);
  c.set_read_timeout(10);
  auto r = c.Get(path);
  if (!r)
    return {-1, httplib::to_string(r.error())};
  return {r->status, r->body};
}

/// The value of the one sample of `text` that starts with `series` (its
/// name and labels as written), or -1.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  return -1;
}

/// `troupe trace CONFIG ID --format json`.
json trace_of(const cluster& c, const std::string& id, int* code = nullptr) {
  auto r = run_command({troupe_bin(), "trace", c.config_path(), id, "--format", "json"}, 60s);
  if (code)
    *code = r.code;
  auto j = json::parse(r.output, nullptr, false);
  if (j.is_discarded())
    ADD_FAILURE() << "troupe trace did not print JSON:\n" << r.output;
  return j;
}

/// Every event of `t` comes after its cause, and every delivery's event is
/// one the journal of its origin holds: nothing missing, in causal order.
void expect_whole_and_causal(const json& t) {
  std::set<std::string> seen;
  for (const auto& e : t["events"]) {
    if (e.contains("parent")) {
      EXPECT_TRUE(seen.count(e["parent"].get<std::string>())) << e.dump() << " comes before its cause";
    }
    EXPECT_TRUE(e.value("known", true)) << "the origin of " << e.dump() << " did not record it";
    EXPECT_TRUE(e["time_ms"].is_number()) << e.dump();
    seen.insert(e["id"].get<std::string>());
  }
  // Only an operator's redrive command starts from outside the saga.
  for (const auto& e : t["events"]) {
    if (e.contains("outside_cause")) {
      EXPECT_EQ(e["type"], "DeadLetterRedriven") << e.dump();
    }
  }
}

/// The attempts in `t` of deliveries by `rule`, each as "result" or
/// "result:ERROR_CODE", and whether one was a redrive.
std::vector<std::string> attempts_of(const json& t, const std::string& rule, bool* redriven = nullptr) {
  std::vector<std::string> out;
  for (const auto& e : t["events"])
    for (const auto& d : e["deliveries"])
      if (d["rule"] == rule)
        for (const auto& a : d["attempts"]) {
          out.push_back(a["result"].get<std::string>()
                        + (a.contains("error_code") ? ":" + a["error_code"].get<std::string>() : ""));
          if (redriven && a.value("redrive", false))
            *redriven = true;
        }
  return out;
}

std::vector<std::string> types_of(const json& t) {
  std::vector<std::string> out;
  for (const auto& e : t["events"])
    out.push_back(e["type"]);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(observe, metrics_pass_promtool_and_a_real_prometheus_counts_each_rules_invocations) {
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  background_command gateway({troupe_bin(), "gateway", c.config_path()});
  ASSERT_TRUE(wait_until([&] { return gateway.output().find("EventBridge's API for cluster") != std::string::npos; }, 30s))
      << gateway.output();

  auto r = run_command({troupe_bin(), "book", c.config_path(), "--count", "40", "--rate", "100"}, 120s);
  ASSERT_EQ(r.code, 0) << r.output;

  // Prometheus, on loopback, scraping every node and the gateway each second.
  const int port = free_port();
  std::ofstream yml(c.dir() / "prometheus.yml");
  yml << "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: troupe\n"
         "    static_configs:\n      - targets: [";
  std::string sep;
  for (const auto& [node, address] : c.metrics_endpoints()) {
    yml << sep << "'" << address << "'";
    sep = ", ";
  }
  yml << ", '" << cfg->gateway->listen << "']\n";
  yml.close();
  background_command prometheus({"/usr/bin/prometheus", "--config.file=" + (c.dir() / "prometheus.yml").string(),
                                 "--storage.tsdb.path=" + (c.dir() / "tsdb").string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port)});

  // Every /metrics passes promtool, and agrees with the node's own status.
  ASSERT_EQ(c.metrics_endpoints().size(), cfg->nodes.size());
  for (const auto& [node, address] : c.metrics_endpoints()) {
    auto [status, text] = http_get(address, "/metrics");
    ASSERT_EQ(status, 200) << node << ": " << text;
    std::ofstream(c.dir() / (node + ".prom")) << text;
    auto check = run_command({"/bin/sh", "-c", "promtool check metrics < " + (c.dir() / (node + ".prom")).string()}, 30s);
    EXPECT_EQ(check.code, 0) << node << ": " << check.output;
    EXPECT_NE(text.find("# TYPE troupe_ingestion_to_invocation_start_latency_seconds histogram"), std::string::npos);
    EXPECT_NE(text.find("# TYPE troupe_handler_duration_seconds histogram"), std::string::npos);
    if (node != "notification" && node != "dlq") {  // nodes whose streams someone consumes (DLQ: once it redrove)
      EXPECT_NE(text.find("troupe_unacked_events{node=\"" + node + "\""), std::string::npos) << node;
    }
    EXPECT_GT(sample(text, "process_resident_memory_bytes"), 0) << node;
  }
  auto [gw_status, gw_text] = http_get(cfg->gateway->listen, "/metrics");
  ASSERT_EQ(gw_status, 200) << gw_text;
  std::ofstream(c.dir() / "gateway.prom") << gw_text;
  auto check = run_command({"/bin/sh", "-c", "promtool check metrics < " + (c.dir() / "gateway.prom").string()}, 30s);
  EXPECT_EQ(check.code, 0) << check.output;

  auto [st, payment] = http_get(c.metrics("payment"), "/metrics");
  ASSERT_EQ(st, 200);
  const std::string charge = "troupe_invocations_total{node=\"payment\",rule=\"charge-new-bookings\",target=\"payment\"}";
  EXPECT_EQ(sample(payment, charge), 40) << payment;
  EXPECT_EQ(sample(payment, "troupe_handler_duration_seconds_count{node=\"payment\",rule=\"charge-new-bookings\","
                            "target=\"payment\"}"), 40);
  auto s = cli::status(*cfg, *cfg->find_node("payment"), 5s);
  ASSERT_TRUE(s);
  for (const auto& m : (*s)["metrics"]) {
    if (m["rule"] == "charge-new-bookings") {
      EXPECT_EQ(m["Invocations"], 40);
    }
  }

  // Prometheus's HTTP API: the invocations of rule charge-new-bookings, as
  // scraped, once it has scraped after the bookings.
  json answer;
  const bool counted = wait_until(
      [&] {
        auto [code, body] = http_get("127.0.0.1:" + std::to_string(port),
                                     "/api/v1/query?query=sum(troupe_invocations_total%7Brule%3D%22charge-new-bookings%22%7D)");
        if (code != 200)
          return false;
        answer = json::parse(body, nullptr, false);
        if (answer.is_discarded() || answer.value("status", "") != "success" || answer["data"]["result"].empty())
          return false;
        return answer["data"]["result"][0]["value"][1] == "40";
      },
      60s);
  EXPECT_TRUE(counted) << answer.dump() << "\n" << tail(prometheus.output());
  // Every target is up (each is scraped at its own offset within the second).
  std::string up;
  EXPECT_TRUE(wait_until(
      [&] {
        auto [code, body] = http_get("127.0.0.1:" + std::to_string(port), "/api/v1/query?query=sum(up)");
        up = body;
        auto j = json::parse(body, nullptr, false);
        return code == 200 && !j.is_discarded() && !j["data"]["result"].empty()
               && j["data"]["result"][0]["value"][1] == std::to_string(cfg->nodes.size() + 1);
      },
      30s))
      << up;
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

/// The flight rules with quick retries, a DLQ, and faults.
cluster faulty_flight(const std::string& faults) {
  return cluster({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
                  {"notification", {"notification"}}, {"dlq", {"dlq"}}},
                 std::string("supervision: {max-restarts: 100, within: 60, backoff-base: 0.05, backoff-cap: 0.2}\n")
                     + big_flight_services + faults + R"(observability:
  terminal: [TicketIssued, BookingCancelled]
rules:
  - {name: requests, pattern: {"detail-type": ["BookingRequested"]}, target: booking, dead-letter-queue: dlq}
  - name: charge
    pattern: {"source": ["troupe.booking"], "detail-type": ["BookingCreated"]}
    target: payment
    dead-letter-queue: dlq
    retry-policy: {maximum-retry-attempts: 50, backoff-base: 0.05, backoff-cap: 0.2}
  - name: seat
    pattern: {"detail-type": ["PaymentConfirmed"]}
    target: seat
    dead-letter-queue: dlq
    retry-policy: {maximum-retry-attempts: 50, backoff-base: 0.05, backoff-cap: 0.2}
  - {name: ticket, pattern: {"detail-type": ["SeatAssigned"]}, target: ticket, dead-letter-queue: dlq}
  - {name: outcomes, pattern: {"detail-type": ["TicketIssued", "PaymentFailed"]}, target: booking, dead-letter-queue: dlq}
  - {name: confirmation, pattern: {"detail-type": ["TicketIssued"]}, target: notification, dead-letter-queue: dlq}
)");
}

TEST(observe, trace_shows_every_event_and_attempt_through_retries_a_crash_a_kill_and_a_redrive) {
  // Payment fails for its first seconds (retries), seat's handler crashes
  // now and then (CRASH attempts, the actor rebuilt), Mallory's payment is
  // poison (a dead letter), and the seat node is killed -9 mid-run.
  auto c = faulty_flight(R"(faults:
  payment:
    outage: {after: 0, for: 2}
    poison: {"detail": {"customer": [{"prefix": "Mallory"}]}}
  seat: {crash: 0.3}
)");
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i)
    names.push_back("Customer " + std::to_string(i));
  names.push_back("Mallory");
  auto ids = book(c, names);
  ASSERT_EQ(ids.size(), names.size());
  const auto mallory = ids.back();
  ids.pop_back();
  std::this_thread::sleep_for(1500ms);
  const pid_t seat = pid_of(c, "seat");
  ASSERT_GT(seat, 0);
  ASSERT_EQ(kill(seat, SIGKILL), 0);
  const auto more = book(c, {"Late 1", "Late 2"});
  ids.insert(ids.end(), more.begin(), more.end());
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, ids, 90s, rows)) << rows.dump(1) << tail(c.launcher_output());
  ASSERT_EQ(dlq_json(c, {"list"}).size(), 1u);

  // Every booking's trace is whole and in causal order, and ends with its ticket.
  bool retried = false, crashed = false;
  for (const auto& id : ids) {
    auto t = trace_of(c, id);
    ASSERT_TRUE(t.value("found", false)) << t.dump();
    EXPECT_TRUE(t["nodes"]["unreachable"].empty()) << t.dump();
    expect_whole_and_causal(t);
    EXPECT_EQ(t["ended"], "TicketIssued") << t.dump();
    const auto types = types_of(t);
    for (const char* type : {"BookingRequested", "BookingCreated", "PaymentConfirmed", "SeatAssigned", "TicketIssued"})
      EXPECT_TRUE(has(types, type)) << type << " missing from " << t.dump();
    const auto charge = attempts_of(t, "charge");
    ASSERT_FALSE(charge.empty()) << t.dump();
    EXPECT_EQ(charge.back(), "ok") << t.dump();
    for (std::size_t i = 0; i + 1 < charge.size(); ++i)
      EXPECT_EQ(charge[i], "retry:HANDLER_ERROR") << t.dump();
    retried = retried || charge.size() > 1;
    const auto seat_attempts = attempts_of(t, "seat");
    crashed = crashed || has(seat_attempts, "retry:CRASH");
    EXPECT_EQ(seat_attempts.back(), "ok") << t.dump();
  }
  EXPECT_TRUE(retried) << "no booking was retried during payment's outage";
  EXPECT_TRUE(crashed) << "no seat handler crashed";

  // Mallory's saga: in the DLQ, not ended.
  auto t = trace_of(c, mallory);
  expect_whole_and_causal(t);
  EXPECT_TRUE(t["ended"].is_null()) << t.dump();
  EXPECT_TRUE(t["dead_letter"].is_object()) << t.dump();
  EXPECT_TRUE(has(types_of(t), "DeadLetter")) << t.dump();
  EXPECT_EQ(attempts_of(t, "charge").back(), "failed:PERMANENT_ERROR") << t.dump();
  auto text = run_command({troupe_bin(), "trace", c.config_path(), mallory}, 60s);
  EXPECT_EQ(text.code, 0) << text.output;
  EXPECT_NE(text.output.find("in the DLQ: letter"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("not ended"), std::string::npos) << text.output;

  // The poison is lifted (payment restarts on the config without it), the
  // letter is redriven, and the saga ends: its trace shows the redrive.
  c.stop();
  std::ifstream in(c.config_path());
  std::string yaml((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const auto healed = std::regex_replace(yaml, std::regex(R"(\n    poison: [^\n]*)"), "");
  ASSERT_NE(healed, yaml);
  std::ofstream(c.config_path()) << healed;
  c.start();
  auto r = run_command({troupe_bin(), "dlq", "redrive", c.config_path(), "--all"}, 30s);
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_TRUE(wait_confirmed(*cfg, {mallory}, 60s, rows)) << rows.dump(1);
  t = trace_of(c, mallory);
  expect_whole_and_causal(t);
  EXPECT_EQ(t["ended"], "TicketIssued") << t.dump();
  bool redriven = false;
  const auto charge = attempts_of(t, "charge", &redriven);
  EXPECT_TRUE(redriven) << t.dump();
  EXPECT_TRUE(has(charge, "failed:PERMANENT_ERROR")) << t.dump();
  EXPECT_EQ(charge.back(), "ok") << t.dump();
  for (const char* type : {"DeadLetter", "DeadLetterRedriven", "PaymentConfirmed", "TicketIssued"})
    EXPECT_TRUE(has(types_of(t), type)) << type << " missing from " << t.dump();
  EXPECT_TRUE(t["dead_letter"].is_null()) << t.dump();

  // A node that does not answer is named, and what it alone holds is missing.
  c.stop();
  c.start_node("booking");
  ASSERT_TRUE(c.node_answers("booking", 20s));
  int code = 0;
  t = trace_of(c, mallory, &code);
  EXPECT_EQ(code, 1);
  std::set<std::string> unreachable;
  for (const auto& u : t["nodes"]["unreachable"])
    unreachable.insert(u["node"].get<std::string>());
  EXPECT_EQ(unreachable, (std::set<std::string>{"payment", "seat", "ticket", "notification", "dlq"})) << t.dump();
  EXPECT_TRUE(has(types_of(t), "BookingRequested"));
  EXPECT_FALSE(has(types_of(t), "PaymentConfirmed"));
  c.signal_node("booking", SIGTERM);
  EXPECT_EQ(c.wait_node("booking"), 0);
}

TEST(observe, sagas_stuck_finds_exactly_those_a_stopped_node_or_a_dead_letter_holds_up) {
  auto c = faulty_flight(R"(faults:
  payment:
    poison: {"detail": {"customer": [{"prefix": "Mallory"}]}}
)");
  for (const auto& n : {"booking", "payment", "seat", "ticket", "notification", "dlq"})
    c.start_node(n);
  for (const auto& n : {"booking", "payment", "seat", "ticket", "notification", "dlq"})
    ASSERT_TRUE(c.node_answers(n, 20s)) << n;
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  ASSERT_TRUE(wait_until([&] { return static_cast<bool>(cli::wait_ready(*cfg, 2s)); }, 30s));
  const auto done = book(c, {"Done 1", "Done 2", "Done 3"});
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, done, 60s, rows)) << rows.dump(1);
  const auto poisoned = book(c, {"Mallory"});
  ASSERT_EQ(poisoned.size(), 1u);
  ASSERT_TRUE(wait_until([&] { return dlq_json(c, {"list"}).size() == 1; }, 30s));
  // The seat node stops: these sagas wait at their PaymentConfirmed.
  c.signal_node("seat", SIGTERM);
  ASSERT_EQ(c.wait_node("seat"), 0);
  const auto held = book(c, {"Held 1", "Held 2"});
  ASSERT_EQ(held.size(), 2u);
  std::this_thread::sleep_for(2500ms);

  auto r = run_command({troupe_bin(), "sagas", c.config_path(), "--stuck", "2s", "--format", "json"}, 60s);
  EXPECT_EQ(r.code, 1) << r.output;  // the seat node did not answer
  auto s = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << r.output;
  std::map<std::string, json> stuck;
  for (const auto& x : s["sagas"])
    stuck[x["id"].get<std::string>()] = x;
  std::set<std::string> ids;
  for (const auto& [id, _] : stuck)
    ids.insert(id);
  EXPECT_EQ(ids, (std::set<std::string>{poisoned[0], held[0], held[1]})) << s.dump(1);
  for (const auto& h : held) {
    if (!stuck.count(h))
      continue;
    const auto& w = stuck[h]["waiting"];
    ASSERT_FALSE(w.empty()) << stuck[h].dump();
    EXPECT_EQ(w[0]["type"], "PaymentConfirmed") << w.dump();
    EXPECT_EQ(w[0]["origin"], "payment") << w.dump();
    EXPECT_EQ(w[0]["down"], json::array({"seat"})) << w.dump();
    EXPECT_EQ(stuck[h]["last"]["type"], "PaymentConfirmed") << stuck[h].dump();
  }
  if (stuck.count(poisoned[0])) {
    bool in_dlq = false;
    for (const auto& w : stuck[poisoned[0]]["waiting"])
      in_dlq = in_dlq || w["why"] == "in the DLQ";
    EXPECT_TRUE(in_dlq) << stuck[poisoned[0]].dump();
  }
  auto text = run_command({troupe_bin(), "sagas", c.config_path(), "--stuck", "2s"}, 60s);
  EXPECT_NE(text.output.find("3 stuck sagas"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("node seat did not answer"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("not acked by seat"), std::string::npos) << text.output;

  // Back up: the held sagas end, and only the dead letter is stuck.
  c.start_node("seat");
  ASSERT_TRUE(wait_confirmed(*cfg, held, 60s, rows)) << rows.dump(1);
  std::this_thread::sleep_for(2500ms);
  r = run_command({troupe_bin(), "sagas", c.config_path(), "--stuck", "2s", "--format", "json"}, 60s);
  EXPECT_EQ(r.code, 0) << r.output;
  s = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << r.output;
  ASSERT_EQ(s["sagas"].size(), 1u) << s.dump(1);
  EXPECT_EQ(s["sagas"][0]["id"], poisoned[0]);
  // Recent sagas list them all, newest first.
  r = run_command({troupe_bin(), "sagas", c.config_path(), "--format", "json", "--limit", "10"}, 60s);
  s = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << r.output;
  EXPECT_EQ(s["sagas"].size(), 6u) << s.dump(1);
  for (const auto& n : {"booking", "payment", "seat", "ticket", "notification", "dlq"}) {
    c.signal_node(n, SIGTERM);
    EXPECT_EQ(c.wait_node(n), 0) << n;
  }
}

TEST(observe, bad_arguments_are_refused_before_anything_is_asked) {
  cluster c({{"one", {"sink"}}}, "rules:\n  - {name: r, pattern: {\"detail-type\": [\"A\"]}, target: sink}\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"sagas", c.config_path(), "--stuck", "soon"},
           {"sagas", c.config_path(), "--since", "-5m"},
           {"trace", c.config_path()}}) {
    std::vector<std::string> argv{troupe_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, 30s);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_EQ(r.output.find("terminate"), std::string::npos) << r.output;
  }
  // A node that is not running: named, and the trace says it knows nothing.
  auto r = run_command({troupe_bin(), "trace", c.config_path(), "nope"}, 30s);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("node one did not answer"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace troupe::test
