// What the runtime's unit tests share: events, a small cluster config, and
// a bus_port that records what the bus asks and runs store jobs only when
// the test says so.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "actors/runtime/bus_core.hpp"
#include "cluster/config.hpp"
#include "tests/support/support.hpp"

namespace troupe::runtime::test {

inline std::shared_ptr<spdlog::logger> quiet_log() {
  static auto log = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
  return log;
}

/// An event of `origin`'s stream `type`, with a detail of {"n": n}.
inline event_ptr event_of(std::string origin, std::string type, std::uint64_t epoch, std::uint64_t seq, int n = 0,
                          std::string source = "test") {
  auto ev = std::make_shared<wire::envelope>();
  ev->id = origin + "-" + type + "-" + std::to_string(seq);
  ev->source = std::move(source);
  ev->detail_type = std::move(type);
  ev->time_ms = wire::now_ms();
  ev->origin = std::move(origin);
  ev->epoch = epoch;
  ev->seq = seq;
  ev->correlation_id = "corr-" + std::to_string(seq);
  nlohmann::json::to_msgpack(nlohmann::json{{"n", n}}, ev->detail);
  return ev;
}

/// The config in `yaml`, every service name taken as known; throws with
/// the problems when it is not valid.
inline cluster::config load_test_config(const std::string& yaml) {
  cluster::diagnostics diag("t.yaml");
  auto cfg = cluster::load_text(yaml, "t.yaml", "/tmp", [](const std::string&, const YAML::Node&,
                                                           cluster::diagnostics&) { return true; },
                                diag);
  if (!cfg)
    throw std::runtime_error(diag.to_string() + "\n" + yaml);
  return *cfg;
}

/// The small cluster's rules: r-a takes A to a; r-b takes B to b (with a
/// DLQ, 2 retries, 60 s of age).
inline const std::string small_cluster_rules = R"(rules:
  - name: r-a
    pattern: {"detail-type": ["A"]}
    target: a
  - name: r-b
    pattern: {"detail-type": ["B"]}
    target: b
    dead-letter-queue: dlq
    retry-policy: {maximum-retry-attempts: 2, maximum-event-age: 60, backoff-base: 0.01, backoff-cap: 0.02}
)";

/// Three nodes: `up` runs service a, `down` runs b, `dead` the DLQ. Rule r-a
/// takes A to a; r-b takes B to b (with a DLQ, 2 retries, 60 s of age).
inline cluster::config small_cluster() {
  const std::string yaml = R"(cluster: t
nodes:
  up:
    endpoints: {pub: "tcp://127.0.0.1:1", control: "tcp://127.0.0.1:2"}
    services: [a]
  down:
    endpoints: {pub: "tcp://127.0.0.1:3", control: "tcp://127.0.0.1:4"}
    services: [b]
  dead:
    endpoints: {pub: "tcp://127.0.0.1:5", control: "tcp://127.0.0.1:6"}
    services: [dlq]
)";
  return load_test_config(yaml + small_cluster_rules);
}

/// Records what the bus asks. Store jobs wait in `writes` until the test
/// commits them, in a real store (SQLite, durability none) in a temp dir.
class recording_port : public bus_port {
 public:
  troupe::test::temp_dir dir;
  std::unique_ptr<store::node_store> db;
  std::string store_error;

  recording_port() {
    store::snapshot snap;
    auto opened = store::node_store::open((dir.path() / "node.db").string(), store::durability::none, snap);
    if (!opened)
      throw std::runtime_error(opened.err().message);
    db = std::move(*opened);
    db->fatal = [this](const std::string& why) { store_error = why; };
  }
  ~recording_port() override { db->stop(); }

  std::int64_t now = 1'000'000;
  std::map<std::string, std::vector<std::vector<delivery>>> delivered;
  std::vector<std::pair<std::chrono::milliseconds, delivery>> retries;
  std::deque<std::pair<store::node_store::job, continuation>> writes;
  std::size_t chores = 0;
  std::vector<std::pair<std::string, std::string>> published;
  std::vector<std::pair<std::string, std::string>> to_peers;
  std::vector<std::pair<std::string, std::string>> replies;
  std::vector<std::string> restored;

  std::int64_t now_ms() override { return now; }
  void deliver(const std::string& service, std::vector<delivery> batch) override {
    delivered[service].push_back(std::move(batch));
  }
  void retry_after(std::chrono::milliseconds wait, delivery d) override { retries.emplace_back(wait, std::move(d)); }
  void write(store::node_store::job job, continuation then) override {
    writes.emplace_back(std::move(job), std::move(then));
  }
  void chore(store::node_store::job job) override {
    ++chores;
    db->submit_chore(std::move(job));
  }
  void publish(std::vector<std::pair<std::string, std::string>> frames) override {
    for (auto& f : frames)
      published.push_back(std::move(f));
  }
  void send_peer(const std::string& node, std::string bytes) override { to_peers.emplace_back(node, std::move(bytes)); }
  void reply(const std::string& identity, std::string bytes) override { replies.emplace_back(identity, std::move(bytes)); }
  void restore(const std::string& service, std::vector<store::state_row>) override { restored.push_back(service); }
  /// Queries and stats asked of the services, answered when the test says.
  std::deque<std::function<void(bus_core&)>> asks;
  void query(const std::string&, const std::string&, const std::string&,
             std::function<void(bus_core&, bool, std::string)> then) override {
    asks.push_back([then](bus_core& bus) { then(bus, true, "[]"); });
  }
  void service_stats(std::function<void(bus_core&, nlohmann::json)> then) override {
    asks.push_back([then](bus_core& bus) { then(bus, nlohmann::json::object()); });
  }
  /// Reads of the store asked, with their bounds; each answered (an
  /// empty page) when the test runs its ask.
  std::vector<page_bounds> reads;
  void read_store(page_bounds bounds, std::function<void(bus_core&, result<wire::read_page>)> then) override {
    reads.push_back(std::move(bounds));
    asks.push_back([then](bus_core& bus) { then(bus, wire::read_page{}); });
  }
  nlohmann::json io_stats() override { return nlohmann::json::object(); }
  /// `trace` requests: run on the test's store when the test runs its ask.
  void inspect_store(std::function<result<nlohmann::json>(store::database&)> fn,
                     std::function<void(bus_core&, result<nlohmann::json>)> then) override {
    asks.push_back([this, fn, then](bus_core& bus) {
      result<nlohmann::json> out = nlohmann::json();
      db->submit([&out, &fn](store::txn& t) -> result<void> {
        out = fn(t.db());
        return {};
      });
      db->commit_queued();
      then(bus, std::move(out));
    });
  }

  /// Commits every store job asked so far (and those they cause), in
  /// order, each followed by its continuation on this thread.
  void commit_all(bus_core& bus) {
    while (!writes.empty()) {
      auto [job, then] = std::move(writes.front());
      writes.pop_front();
      bool done = false;
      db->submit(std::move(job), [&done] { done = true; });
      db->commit_queued();
      if (!done)
        throw std::runtime_error("store: the job's completion did not run");
      if (!store_error.empty())
        throw std::runtime_error("store: " + store_error);
      then(bus);
    }
  }
  /// Every delivery handed to `service`, flattened.
  std::vector<delivery> all_delivered(const std::string& service) const {
    std::vector<delivery> out;
    if (auto it = delivered.find(service); it != delivered.end())
      for (const auto& b : it->second)
        out.insert(out.end(), b.begin(), b.end());
    return out;
  }
};

/// An answer to `d`.
inline answer answer_to(const delivery& d, outcome status, std::vector<event_out> events = {}) {
  answer a;
  a.d = d;
  a.status = status;
  a.events = std::move(events);
  a.at_ms = wire::now_ms();
  a.error_code = status == outcome::ok ? "" : status == outcome::permanent ? "PERMANENT_ERROR" : "HANDLER_ERROR";
  a.error = status == outcome::ok ? "" : "it failed";
  return a;
}

}  // namespace troupe::runtime::test
