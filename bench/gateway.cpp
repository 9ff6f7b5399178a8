#include "bench/gateway.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "gateway/sigv4.hpp"
#include "rules/matcher.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"
#include "wire/envelope.hpp"

namespace troupe::bench {

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr const char* key_id = "AKIABENCH00000000001";
constexpr const char* secret = "benchbenchbenchbenchbenchbenchbenchbench";
constexpr std::size_t per_call = 10;

// A booking-sized detail (about 400 bytes of JSON), as the saga's events carry.
const std::string detail_json =
    R"({"booking_id":"b-000001","customer":"Ada Lovelace","email":"ada@example.com","flight":"TR100",)"
    R"("date":"2026-12-24","cabin":"economy","price":1250.75,"currency":"EUR","card":"4111111111111111",)"
    R"("passengers":[{"name":"Ada Lovelace","seat_preference":"window"}],"loyalty":{"tier":"gold","points":12840}})";

/// `clients` threads put `events` in calls of `per_call` through `call`;
/// events/s over the whole run.
double drive(std::size_t events, unsigned clients, const std::function<std::function<void()>()>& make_caller) {
  std::atomic<std::size_t> next{0};
  std::vector<std::function<void()>> callers;
  for (unsigned t = 0; t < clients; ++t)
    callers.push_back(make_caller());
  const auto start = clock_type::now();
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  std::string why;
  std::mutex mu;
  for (unsigned t = 0; t < clients; ++t)
    threads.emplace_back([&, t] {
      try {
        while (next.fetch_add(per_call) < events)
          callers[t]();
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        failed = true;
        why = e.what();
        next = events;
      }
    });
  for (auto& th : threads)
    th.join();
  if (failed)
    throw std::runtime_error(why);
  return static_cast<double>(events) / std::chrono::duration<double>(clock_type::now() - start).count();
}

}  // namespace

void gateway_figures(std::size_t events, unsigned clients) {
  const auto port = [] {
    const auto ep = test::free_endpoint();  // tcp://127.0.0.1:N
    return std::stoi(ep.substr(ep.rfind(':') + 1));
  }();
  test::cluster c({{"source", {"ticket"}}, {"target", {"sink"}}},
                  "gateway:\n  listen: 127.0.0.1:" + std::to_string(port) +
                      "\n  ingress: source\n  client: tester\n  access-keys:\n    " + key_id +
                      ": {secret-key-file: keys/bench.aws, roles: [producer]}\n"
                      "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink}\n",
                  "os");
  std::filesystem::create_directories(c.dir() / "keys");
  const auto secret_file = c.dir() / "keys" / "bench.aws";
  std::ofstream(secret_file) << secret << "\n";
  ::chmod(secret_file.c_str(), 0600);
  c.start();
  test::background_command gw({test::troupe_bin(), "gateway", c.config_path(), "--threads",
                               std::to_string(std::max(8u, clients * 2))});
  httplib::Client probe("127.0.0.1", port);
  if (!test::wait_until([&] { return static_cast<bool>(probe.Get("/")); }, std::chrono::seconds(20)))
    throw std::runtime_error("the gateway did not start: " + gw.output());

  json entries = json::array();
  for (std::size_t i = 0; i < per_call; ++i)
    entries.push_back({{"Source", "bench"}, {"DetailType", "Ping"}, {"Detail", detail_json}});
  const std::string body = json{{"Entries", entries}}.dump();
  const auto detail = *rules::json_to_msgpack(detail_json);

  const auto through_gateway = [&] {
    return [&, http = std::make_shared<httplib::Client>("127.0.0.1", port)]() {
      http->set_keep_alive(true);
      http->set_tcp_nodelay(true);  // as urllib3 (boto3) and Node's http do
      gateway::signed_request r;
      r.method = "POST";
      r.path = "/";
      r.headers = {{"Host", "127.0.0.1:" + std::to_string(port)},
                   {"X-Amz-Target", "AWSEvents.PutEvents"},
                   {"Content-Type", "application/x-amz-json-1.1"}};
      r.body = body;
      gateway::sign(r, key_id, secret, "us-east-1", wire::now_ms() / 1000);
      httplib::Headers h;
      for (const auto& [k, v] : r.headers)
        if (k != "Content-Type" && k != "Host")
          h.emplace(k, v);
      auto res = http->Post("/", h, body, "application/x-amz-json-1.1");
      if (!res || res->status != 200 || json::parse(res->body)["FailedEntryCount"] != 0)
        throw std::runtime_error("PutEvents through the gateway failed: " +
                                 (res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error())));
    };
  };
  const auto direct = [&] {
    return [&, control = std::make_shared<wire::client>(c.control("source"), c.curve("source"))]() {
      wire::control_request req;
      req.verb = "put";
      for (std::size_t i = 0; i < per_call; ++i)
        req.entries.push_back({"bench", "Ping", detail, "", {}, {}});
      auto rep = control->call(req, std::chrono::seconds(30));
      if (!rep || !rep->ok)
        throw std::runtime_error("PutEvents on the control socket failed: " + (rep ? rep->body : rep.err().message));
    };
  };

  std::printf("\n== EventBridge's API: PutEvents of %zu entries (%zu-byte Detail), %u client threads, %zu events a "
              "run ==\n", per_call, detail_json.size(), clients, events);
  drive(std::min<std::size_t>(events, 2000), clients, through_gateway);  // warm: connections, WAL, caches
  std::vector<double> http_runs, zmq_runs;
  for (int round = 0; round < 3; ++round) {
    zmq_runs.push_back(drive(events, clients, direct));
    http_runs.push_back(drive(events, clients, through_gateway));
  }
  const auto show = [](const char* what, const std::vector<double>& runs) {
    std::printf("%-58s best %9.0f events/s  (runs:", what, *std::max_element(runs.begin(), runs.end()));
    for (double r : runs)
      std::printf(" %.0f", r);
    std::printf(")\n");
  };
  show("control socket (MessagePack over CurveZMQ), calls of 10", zmq_runs);
  show("troupe gateway (JSON 1.1 over HTTP, SigV4), calls of 10", http_runs);
  std::printf("gateway / control socket: %.2f (best against best)\n",
              *std::max_element(http_runs.begin(), http_runs.end()) /
                  *std::max_element(zmq_runs.begin(), zmq_runs.end()));
  c.stop();
}

}  // namespace troupe::bench
