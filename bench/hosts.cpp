#include "bench/hosts.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "bench/raw_zmq.hpp"
#include "launcher/common.hpp"
#include "launcher/keys.hpp"
#include "tests/integration/hosts_cluster.hpp"

namespace troupe::bench {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// The best of three runs of `measure` (a figure per run), and every run's
/// figure as "a, b, c".
template <class Measure>
double best_of_3(const Measure& measure, std::string& seen) {
  double best = 0;
  char buf[32];
  for (int i = 0; i < 3; ++i) {
    const double one = measure();
    std::snprintf(buf, sizeof buf, "%s%.0f", i ? ", " : "", one);
    seen += buf;
    best = std::max(best, one);
  }
  return best;
}

/// Two nodes, `source` on alpha and `target` (the built-in sink) on beta.
std::string hop_config(const test::hosts_lab& lab) {
  std::string y = "cluster: hop\ndata-dir: data\nhosts:\n  alpha: {address: " + lab.address("alpha")
                  + "}\n  beta: {address: " + lab.address("beta") + "}\nnodes:\n";
  for (const auto& [node, host, service, port] :
       {std::tuple{"source", "alpha", "ticket", 7201}, std::tuple{"target", "beta", "sink", 7211}})
    y += std::string("  ") + node + ":\n    host: " + host + "\n    ports: {pub: " + std::to_string(port)
         + ", control: " + std::to_string(port + 1) + "}\n    services: [" + service
         + "]\n    public-key-file: keys/" + node + ".pub\n    secret-key-file: keys/" + node + ".key\n";
  return y + "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink}\n"
             "clients:\n  bench: {public-key-file: keys/bench.pub, secret-key-file: keys/bench.key, "
             "roles: [producer, reader]}\n";
}

/// Events a second through the single hop, alpha to beta: `n` PutEvents
/// entries on source, in calls of 1,000, until the sink has them all (or
/// nothing more arrives for 3 s); the clock runs from the first call.
double hop_across(test::hosts_lab& lab, std::size_t n, const std::string& detail) {
  test::hosts_cluster c(lab, hop_config(lab));
  c.launch_all("alpha");
  return lab.on("alpha", [&] {
    const auto& cfg = c.config();
    auto client = cli::connect(cfg, *cfg.find_node("source"), cluster::role::producer);
    if (!client)
      throw std::runtime_error("no client for source: " + client.err().message);
    const auto start = clock_type::now();
    for (std::size_t sent = 0; sent < n;) {
      wire::control_request req;
      req.verb = "put";
      for (std::size_t i = 0; i < 1000 && sent < n; ++i, ++sent)
        req.entries.push_back({"bench", "Ping", detail, "", {}, {}});
      auto rep = (*client)->call(req, 30s);
      if (!rep || !rep->ok)
        throw std::runtime_error(std::string("put failed: ") + (rep ? rep->body : rep.err().message));
    }
    std::uint64_t total = 0, last = 0;
    auto last_progress = clock_type::now();
    for (;;) {
      auto r = cli::query(cfg, "sink", "count", json::object(), 10s);
      total = r ? (*r)["distinct"].get<std::uint64_t>() : 0;
      if (total >= n)
        break;
      if (total != last) {
        last = total;
        last_progress = clock_type::now();
      } else if (clock_type::now() - last_progress > 3s) {
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    const double s = std::chrono::duration<double>(clock_type::now() - start).count();
    if (total < n)
      std::printf("  (a single hop run delivered %llu of %zu)\n", static_cast<unsigned long long>(total), n);
    return total / s;
  });
}

/// `troupe book --count n`, all at once, on alpha, through the saga laid
/// out as configs/three-hosts.yaml lays it out: its summary.
json saga_across(test::hosts_lab& lab, std::size_t n, const std::string& services) {
  test::hosts_cluster c(lab, test::hosts_options{false, services, ""});
  c.launch_all("alpha");
  const auto r = c.troupe("alpha",
                          {"book", c.config_path(), "--count", std::to_string(n), "--rate", "1000000", "--format",
                           "json", "--quiet", "--wait", "120"},
                          300s);
  const auto brace = r.output.rfind("\n{");
  auto j = json::parse(r.output.substr(brace == std::string::npos ? 0 : brace + 1), nullptr, false);
  if (r.code != 0 || !j.is_object())
    throw std::runtime_error("book across the hosts failed: " + r.output + "\n" + c.diagnostics());
  return j;
}

} // namespace

void hosts_figures(std::size_t events, std::size_t bookings, const hosts_inputs& in) {
  if (auto why = test::hosts_lab::unavailable()) {
    std::printf("hosts: not measured (%s)\n", why->c_str());
    return;
  }
  test::hosts_lab lab({"alpha", "beta", "gamma"});
  std::printf("hosts: alpha %s, beta %s, gamma %s: network namespaces, a veth link each to one bridge\n",
              lab.address("alpha").c_str(), lab.address("beta").c_str(), lab.address("gamma").c_str());
  // Raw first: it forks, and no cluster's threads run yet.
  constexpr std::size_t raw_n = 1000000;
  std::string seen_lo, seen_veth;
  const double raw_lo = best_of_3(
      [&] { return raw_two_processes(raw_n, in.ping_topic, in.ping_envelope).msgs_per_s; }, seen_lo);
  const auto ep = "tcp://" + lab.address("alpha") + ":7301";
  const raw_link link{ep, ep, [&] { lab.enter("alpha"); }, [&] { lab.enter("beta"); }};
  const double raw_veth = best_of_3(
      [&] { return raw_two_processes(raw_n, in.ping_topic, in.ping_envelope, link).msgs_per_s; }, seen_veth);
  std::printf("%-58s %12.0f msg/s    (runs: %s)\n", "raw libzmq PUB/SUB, two processes, loopback, 1M, best of 3",
              raw_lo, seen_lo.c_str());
  std::printf("%-58s %12.0f msg/s    (runs: %s)\n", "raw libzmq PUB/SUB, alpha -> beta over veth, 1M, best of 3",
              raw_veth, seen_veth.c_str());

  std::string seen_hop;
  const double hop = best_of_3([&] { return hop_across(lab, events, in.ping_detail); }, seen_hop);
  std::printf("%-58s %12.0f events/s (%.1f%% of raw over veth; runs: %s)\n",
              "troupe single hop, alpha -> beta over veth, os, best of 3", hop,
              raw_veth > 0 ? 100 * hop / raw_veth : 0.0, seen_hop.c_str());

  std::string seen_saga;
  json best;
  for (int i = 0; i < 3; ++i) {
    const auto one = saga_across(lab, bookings, in.services);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%.0f (p50 %.0f ms, p99 %.0f ms)", i ? ", " : "",
                  one.value("bookings_per_second", 0.0), one.value("latency_ms_p50", 0.0),
                  one.value("latency_ms_p99", 0.0));
    seen_saga += buf;
    if (best.is_null() || one.value("bookings_per_second", 0.0) > best.value("bookings_per_second", 0.0))
      best = one;
  }
  std::printf("%-58s %12.0f bookings/s (%d of %zu final; runs: %s)\n",
              "end to end, three hosts, os, all at once, best of 3", best.value("bookings_per_second", 0.0),
              best.value("confirmed", 0) + best.value("cancelled", 0), bookings, seen_saga.c_str());
}

} // namespace troupe::bench
