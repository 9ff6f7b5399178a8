// One run, three figures, side by side on this machine:
//   1. raw libzmq PUB/SUB over tcp loopback (bench/raw_zmq.hpp): in one
//      process, messages of the envelope's size, and in two processes as
//      libzmq's local_thr/remote_thr measure, with the frames a node
//      publishes for the single hop's event (best of three each);
//   2. troupe single hop: PutEvents on one node process, published, routed
//      by the other node's bus to a service handler (the built-in sink)
//      (best of three), then its latency at half that rate and below;
//   3. end to end: bookings/s through the five-service flight cluster
//      (configs/flight.yaml: its rules, and its DLQ node).
// Beside each rate, the CPU it took (bench/process_cpu.hpp): every node
// process's utime + stime, all threads, over the run, per event delivered.
// Usage: troupe_bench [--events N] [--bookings N]
//                     [--only raw|hop|hop-throughput|hop-latency|e2e|latency|curve|hosts|gateway[,...]]
//                     (hop-throughput: the raw figures and the single hop's rate, without its latency)
//                     [--max-rate R] (hop-latency alone: the single hop's maximum, measured before)
//                     [--rate R[,R...]] (hop-latency alone: at these events/s only)
//                     [--runs N] (hop-latency and e2e: each rate and durability N
//                     times, in rounds, 1 unless given; scrape: N rounds, 5)
//                     [--plots DIR] (the hop latency and e2e series as data files,
//                     results.json and PNG plots in DIR, bench/plots.hpp)
//                     [--threads] (each node thread's CPU per event too)
//                     (hosts: across three network namespaces, bench/hosts.hpp;
//                     needs root, and runs only when asked for)
//                     (gateway: PutEvents through `troupe gateway` against the
//                     control socket, bench/gateway.hpp; [--clients N])
//                     (curve: CurveZMQ on against off, single hop and end to
//                     end, alternated, three rounds)
//                     (scrape: every node's /metrics scraped once a second
//                     against not scraped, single hop and end to end,
//                     alternated, --runs rounds, bench/scraper.hpp)
//                     (journal: the trace journal on against off, single hop
//                     and end to end, alternated, --runs rounds)
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/gateway.hpp"
#include "bench/hosts.hpp"
#include "bench/plots.hpp"
#include "bench/process_cpu.hpp"
#include "bench/raw_zmq.hpp"
#include "bench/scraper.hpp"
#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"
#include "wire/endpoint.hpp"
#include "wire/envelope.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

bool verbose_threads = false;  // --threads: each node thread's CPU per event too

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// A booking-sized detail, as the saga's events carry.
json sample_detail() {
  return json{{"booking_id", troupe::wire::make_uuid()}, {"customer", "Grace Hopper"},
              {"email", "grace.hopper+42@example.com"},  {"flight", "TR100"},
              {"seat_preference", "window"},             {"amount", 420.5},
              {"card", "4111111111111111"},              {"payment_id", "PAY-0000000042"}};
}

/// The encoding of an event carrying sample_detail(), as node `origin`
/// publishes it (a fresh node's epoch, sequence number `seq`); a caused
/// event carries its own correlation and causation ids, a first one its id.
std::string sample_envelope(const char* source, const char* detail_type, const char* origin, std::uint64_t seq,
                            bool caused) {
  troupe::wire::envelope e;
  e.id = troupe::wire::make_uuid();
  e.source = source;
  e.detail_type = detail_type;
  e.time_ms = troupe::wire::now_ms();
  e.origin = origin;
  e.epoch = 1;
  e.seq = seq;
  e.correlation_id = caused ? troupe::wire::make_uuid() : e.id;
  if (caused)
    e.causation_id = troupe::wire::make_uuid();
  json::to_msgpack(sample_detail(), e.detail);
  std::string out;
  if (!troupe::wire::encode(e, out))
    throw std::runtime_error(std::string("the bench's ") + detail_type + " envelope does not encode");
  return out;
}

/// A booking event's envelope, mid-saga.
std::size_t envelope_size() {
  return sample_envelope("troupe.payment", "PaymentConfirmed", "payment", 123456, true).size();
}

/// The single hop's event as its source node publishes it: the envelope a
/// PutEvents of ("bench", "Ping", sample_detail()) becomes there.
std::string ping_envelope() { return sample_envelope("bench", "Ping", "source", 100000, false); }

/// Turns the trace journal off in the config at `path` (the shipped flight
/// config's `trace-records`).
void journal_off(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const auto at = text.find("trace-records: 1000000");
  if (at == std::string::npos)
    throw std::runtime_error(path + " has no 'trace-records: 1000000' to turn off");
  text.replace(at, std::strlen("trace-records: 1000000"), "trace-records: 0");
  std::ofstream(path) << text;
}

/// Whether a bench cluster's nodes serve Prometheus metrics, and whether
/// the bench scrapes them while it measures.
enum class metrics { none, served, scraped };

/// What a run's metrics need: the endpoints, added to `c`'s config before
/// it starts (unless `m` is none, or the config has them: the shipped
/// flight config serves them, so its clusters always do), then, with
/// scrape(), the scraper.
class metrics_for_run {
 public:
  metrics_for_run(const troupe::test::cluster& c, metrics m) : m_(m), targets_(c.metrics_endpoints()) {
    if (m != metrics::none && targets_.empty())
      targets_ = troupe::bench::add_metrics_endpoints(c.config_path());
  }
  /// Starts scraping every node once a second, when `m` says so.
  void scrape() {
    if (m_ == metrics::scraped)
      scraper_.emplace(targets_, 1s);
  }
  /// Stops scraping; throws when scraping was asked for and no GET was
  /// answered, as the comparison would then mean nothing.
  troupe::bench::scrape_stats stop() {
    if (!scraper_)
      return {};
    auto stats = scraper_->stop();
    if (stats.scrapes == 0)
      throw std::runtime_error("no /metrics GET was answered (" + std::to_string(stats.failures)
                               + " failed; last: " + stats.last_error + ")");
    return stats;
  }

 private:
  metrics m_;
  std::map<std::string, std::string> targets_;
  std::optional<troupe::bench::scraper> scraper_;
};

struct hop_result {
  double events_per_s = 0;
  std::uint64_t delivered = 0;
  std::map<std::string, double> cpu_s;  // each node's CPU seconds over the run
  std::map<std::string, double> thread_s;  // each "node/thread"'s, the same
  troupe::bench::scrape_stats scraped;       // with metrics::scraped
  double cpu_us_per_event() const { return delivered ? 1e6 * troupe::bench::total(cpu_s) / delivered : 0; }
};

/// The nodes of a started cluster, all of `expected` of them, else throws.
std::map<std::string, pid_t> nodes_of(const troupe::test::cluster& c, std::size_t expected) {
  auto nodes = troupe::bench::node_processes(c.launcher_pid());
  if (nodes.size() != expected)
    throw std::runtime_error("found " + std::to_string(nodes.size()) + " node processes under the launcher, expected "
                             + std::to_string(expected));
  return nodes;
}

/// "name 1.23, ..." of a CPU delta, in microseconds per `per`, with
/// `decimals` digits after the point.
std::string per_node(const std::map<std::string, double>& cpu_s, double per, int decimals) {
  std::string out;
  char buf[64];
  for (const auto& [node, s] : cpu_s) {
    std::snprintf(buf, sizeof buf, "%s %.*f", node.c_str(), decimals, per > 0 ? 1e6 * s / per : 0.0);
    out += (out.empty() ? "" : ", ") + std::string(buf);
  }
  return out;
}

hop_result single_hop(std::size_t n, const std::string& durability,
                      troupe::test::keys k = troupe::test::keys::on, metrics m = metrics::none, bool journal = true) {
  troupe::test::cluster c({{"source", {"ticket"}}, {"target", {"sink"}}},
                          std::string(journal ? "" : "observability: {trace-records: 0}\n")
                              + "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink}\n",
                          durability, k);
  metrics_for_run observed(c, m);
  c.start();
  const auto nodes = nodes_of(c, 2);
  auto cfg = troupe::cli::load_config(c.config_path());
  troupe::wire::client client(c.control("source"), c.curve("source"));
  std::string detail;
  json::to_msgpack(sample_detail(), detail);
  observed.scrape();
  const auto cpu_before = troupe::bench::snapshot(nodes);
  const auto start = clock_type::now();
  for (std::size_t sent = 0; sent < n;) {
    troupe::wire::control_request req;
    req.verb = "put";
    for (std::size_t i = 0; i < 1000 && sent < n; ++i, ++sent)
      req.entries.push_back({"bench", "Ping", detail, "", {}, {}});
    auto rep = client.call(req, 30s);
    if (!rep || !rep->ok) {
      throw std::runtime_error(std::string("put failed: ") + (rep ? rep->body : rep.err().message));
    }
  }
  std::uint64_t total = 0, last_total = 0;
  auto last_progress = clock_type::now();
  for (;;) {
    auto r = troupe::cli::query(*cfg, "sink", "count", json::object(), 10s);
    total = r ? (*r)["distinct"].get<std::uint64_t>() : 0;
    if (total >= n)
      break;
    if (total != last_total) {
      last_total = total;
      last_progress = clock_type::now();
    } else if (clock_type::now() - last_progress > 3s) {
      break;  // nothing more is coming: report what arrived
    }
    std::this_thread::sleep_for(5ms);
  }
  const double s = seconds_since(start);
  const auto cpu_after = troupe::bench::snapshot(nodes);
  const auto scraped = observed.stop();
  c.stop();
  if (!cpu_after.gone.empty())
    throw std::runtime_error("a node exited during the single hop: " + cpu_after.gone);
  return {total / s, total, troupe::bench::cpu_delta(cpu_before, cpu_after),
          troupe::bench::thread_delta(cpu_before, cpu_after), scraped};
}

/// Per-hop latency at a steady `rate`: events carry their send time, the
/// sink on the other node measures to its handler (PutEvents, the origin's
/// commit, the wire, the gate, the handler).
///
/// The producer calls PutEvents once a millisecond with the events due by
/// then (a client batching its calls, as the AWS SDKs' PutEvents takes up
/// to ten entries, or a Kafka producer lingers); each event is stamped just
/// before the call, so the figure runs from PutEvents to the handler. The
/// first `warmup` seconds are at the same rate with unstamped events: they
/// fill the caches, the WAL files and the sink's tables, which a running
/// cluster has, and are not counted.
///
/// Beside the latency, the CPU both nodes took per event over the measured
/// part ("cpu_us_per_event"): at a steady rate below the maximum, this is
/// the work an event costs, whereas at the maximum rate the nodes take
/// whatever the two cores have, and their CPU per event mostly restates
/// the rate.
json hop_latency(double rate, double seconds, double warmup = 1) {
  troupe::test::cluster c({{"source", {"ticket"}}, {"target", {"sink"}}},
                          "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink}\n", "os");
  c.start();
  const auto nodes = nodes_of(c, 2);
  auto cfg = troupe::cli::load_config(c.config_path());
  troupe::wire::client client(c.control("source"), c.curve("source"));
  const auto now_us = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  };
  // One booking-sized detail, encoded once; a stamped event gets its send
  // time written into the eight bytes of its "sent_us" (a uint 64, since
  // the value is past 2^32), so that the load generator takes as little of
  // the two cores from what it measures as it can.
  std::string plain, stamped_template;
  json::to_msgpack(sample_detail(), plain);
  {
    auto d = sample_detail();
    d["sent_us"] = now_us();
    json::to_msgpack(d, stamped_template);
  }
  const std::string stamp_key = std::string("\xa7sent_us\xcf", 9);
  const auto stamp_at = stamped_template.find(stamp_key);
  if (stamp_at == std::string::npos)
    throw std::runtime_error("sent_us is not a uint 64 in the encoded detail");
  const auto drive = [&](double secs, bool stamped) {
    const auto total = static_cast<std::size_t>(rate * secs);
    const auto start = clock_type::now();
    auto next = start;
    for (std::size_t sent = 0; sent < total;) {
      std::this_thread::sleep_until(next);
      next += 1ms;
      const auto due = std::min({total, static_cast<std::size_t>(seconds_since(start) * rate) + 1, sent + 1000});
      if (due <= sent)
        continue;
      troupe::wire::control_request req;
      req.verb = "put";
      for (; sent < due; ++sent) {
        std::string detail = stamped ? stamped_template : plain;
        if (stamped) {
          const auto t = now_us();
          for (int b = 0; b < 8; ++b)
            detail[stamp_at + stamp_key.size() + b] = static_cast<char>(t >> (56 - 8 * b));
        }
        req.entries.push_back({"bench", "Ping", std::move(detail), "", {}, {}});
      }
      auto rep = client.call(req, 30s);
      if (!rep || !rep->ok) {
        throw std::runtime_error(std::string("put failed: ") + (rep ? rep->body : rep.err().message));
      }
    }
    return total;
  };
  drive(warmup, false);
  const auto cpu_before = troupe::bench::snapshot(nodes);
  const auto sending = clock_type::now();
  const auto total = drive(seconds, true);
  const double sent_s = seconds_since(sending);
  json lat;
  for (int i = 0; i < 1000; ++i) {
    auto r = troupe::cli::query(*cfg, "sink", "latency", json::object(), 10s);
    if (r && (*r)["count"].get<std::size_t>() >= total) {
      lat = *r;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  const auto cpu_after = troupe::bench::snapshot(nodes);
  c.stop();
  if (!lat.is_null() && total > 0) {
    lat["sent_per_s"] = static_cast<double>(total) / sent_s;
    const auto cpu = troupe::bench::cpu_delta(cpu_before, cpu_after);
    lat["cpu_us_per_event"] = 1e6 * troupe::bench::total(cpu) / static_cast<double>(total);
    lat["cpu_by_node"] = per_node(cpu, static_cast<double>(total), 2);
    lat["cpu_by_thread"] = per_node(troupe::bench::thread_delta(cpu_before, cpu_after), static_cast<double>(total), 2);
  }
  return lat;
}

/// Events every node of `cfg` has taken from its peers' PUB sockets so far
/// (its wire's `received`): one per event per hop.
std::uint64_t received_from_peers(const troupe::cluster::config& cfg) {
  std::uint64_t n = 0;
  for (const auto& node : cfg.nodes) {
    auto s = troupe::cli::status(cfg, node, 60s);  // a node may still be busy with the run's tail
    if (!s)
      throw std::runtime_error("no status from node " + node.name + ": " + s.err().message);
    n += (*s)["wire"].value("received", std::uint64_t{0});
  }
  return n;
}

/// The saga's services with cabins that do not fill (but for notification's).
const char* const roomy_services = R"(services:
  payment: {gateway: {declined-cards: ["4000000000000002"], default-limit: 10000}}
  seat: {flights: {TR100: {rows: 200, layout: "ABC DEFG HJK"}, TR200: {rows: 200, layout: "ABC DEFG HJK"}, TR300: {rows: 200, layout: "ABC DEFG HJK"}}}
)";

json end_to_end(std::size_t n, double rate, const std::string& durability,
               troupe::test::keys k = troupe::test::keys::on, metrics m = metrics::none, bool journal = true) {
  // The shipped flight cluster and its rules, with cabins that do not fill.
  troupe::test::cluster c(troupe::test::shipped{"configs/flight.yaml", "",
                                                std::string(roomy_services) + "  notification: {maildir: mail, from: \"bench <bench@troupe.test>\"}\n",
                                                durability, k});
  if (!journal)
    journal_off(c.config_path());
  metrics_for_run observed(c, m);
  c.start();
  auto cfg = troupe::cli::load_config(c.config_path());
  if (!cfg)
    throw std::runtime_error("the bench's flight config is invalid");
  const auto nodes = nodes_of(c, cfg->nodes.size());
  const auto cpu_before = troupe::bench::snapshot(nodes);
  const auto received_before = received_from_peers(*cfg);
  observed.scrape();
  auto r = troupe::test::run_command({troupe::test::troupe_bin(), "book", c.config_path(), "--count",
                                      std::to_string(n), "--rate", std::to_string(rate), "--format", "json",
                                      "--quiet", "--wait", "120"},
                                     300s);
  const auto cpu_after = troupe::bench::snapshot(nodes);
  const auto scraped = observed.stop();
  const auto received = received_from_peers(*cfg) - received_before;
  // Memory: each node's peak resident set over the run.
  json rss = json::object();
  for (const auto& node : cfg->nodes)
    if (auto s = troupe::cli::status(*cfg, node, 10s))
      rss[node.name] = (*s)["process"]["peak_rss_kib"];
  c.stop();
  // The summary is the last line.
  auto out = r.output;
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  const auto line_start = out.rfind('\n');
  const auto brace = out.find('{', line_start == std::string::npos ? 0 : line_start);
  auto j = brace == std::string::npos ? json() : json::parse(out.substr(brace), nullptr, false);
  if (!j.is_object()) {
    throw std::runtime_error("book failed: " + r.output);
  }
  j["peak_rss_kib"] = rss;
  j["cpu_s"] = troupe::bench::cpu_delta(cpu_before, cpu_after);
  j["cpu_nodes_gone"] = cpu_after.gone;
  j["received_from_peers"] = received;
  j["scraped"] = {{"scrapes", scraped.scrapes}, {"failures", scraped.failures}, {"bytes", scraped.bytes},
                  {"total_ms", scraped.total_ms}, {"max_ms", scraped.max_ms}};
  return j;
}

/// CurveZMQ on against off, alternated in one run: the single hop (os) and
/// end to end (os, all at once), three rounds each, with every round's
/// figure and the best of each.
void curve_on_off(std::size_t events, std::size_t bookings) {
  using troupe::test::keys;
  double best_hop[2] = {0, 0}, best_e2e[2] = {0, 0};
  std::string seen_hop[2], seen_e2e[2];
  char buf[96];
  for (int round = 0; round < 3; ++round)
    for (int on = 1; on >= 0; --on) {
      const auto hop = single_hop(events, "os", on ? keys::on : keys::off);
      std::snprintf(buf, sizeof buf, "%s%.0f/%.2f", round ? ", " : "", hop.events_per_s, hop.cpu_us_per_event());
      seen_hop[on] += buf;
      best_hop[on] = std::max(best_hop[on], hop.events_per_s);
    }
  for (int round = 0; round < 3; ++round)
    for (int on = 1; on >= 0; --on) {
      const auto e2e = end_to_end(bookings, 1e6, "os", on ? keys::on : keys::off);
      const auto rate = e2e["bookings_per_second"].get<double>();
      const auto cpu = troupe::bench::total(e2e["cpu_s"].get<std::map<std::string, double>>());
      std::snprintf(buf, sizeof buf, "%s%.0f/%.0f", round ? ", " : "", rate, bookings ? 1e6 * cpu / bookings : 0.0);
      seen_e2e[on] += buf;
      best_e2e[on] = std::max(best_e2e[on], rate);
    }
  for (int on = 1; on >= 0; --on)
    std::printf("%-58s %12.0f events/s  (runs events/s/us per event per hop: %s)\n",
                on ? "single hop, os, CurveZMQ on, best of 3" : "single hop, os, CurveZMQ off, best of 3",
                best_hop[on], seen_hop[on].c_str());
  for (int on = 1; on >= 0; --on)
    std::printf("%-58s %12.0f bookings/s (runs bookings/s/us per booking: %s)\n",
                on ? "end to end, os, CurveZMQ on, best of 3" : "end to end, os, CurveZMQ off, best of 3",
                best_e2e[on], seen_e2e[on].c_str());
  std::printf("%-58s %12.2fx single hop, %.2fx end to end\n", "CurveZMQ on / off, best against best",
              best_hop[0] > 0 ? best_hop[1] / best_hop[0] : 0.0, best_e2e[0] > 0 ? best_e2e[1] / best_e2e[0] : 0.0);
}

/// The runs of one side of an on/off comparison: each run's figure, and
/// a text of them all as the summary lines print them.
struct side {
  std::vector<double> rates;
  std::string seen;
  troupe::bench::scrape_stats scraped;  // summed over the runs
  void add(double rate, double cpu_us, const troupe::bench::scrape_stats& s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%.0f/%.1f", rates.empty() ? "" : ", ", rate, cpu_us);
    seen += buf;
    rates.push_back(rate);
    scraped.scrapes += s.scrapes;
    scraped.failures += s.failures;
    scraped.bytes += s.bytes;
    scraped.total_ms += s.total_ms;
    scraped.max_ms = std::max(scraped.max_ms, s.max_ms);
  }
  double best() const { return rates.empty() ? 0 : *std::max_element(rates.begin(), rates.end()); }
  double worst() const { return rates.empty() ? 0 : *std::min_element(rates.begin(), rates.end()); }
  double median() const { return troupe::bench::median(rates); }
};

/// Prints one side of a comparison: best, median, spread and every run,
/// then what its scraper did, if it ran.
void print_side(const std::string& what, const char* unit, const side& s) {
  std::printf("%-58s %12.0f %s best, median %.0f, spread %.0f-%.0f (runs %s/us of CPU per %s: %s)\n", what.c_str(),
              s.best(), unit, s.median(), s.worst(), s.best(), unit, std::strcmp(unit, "events/s") ? "booking" : "event per hop",
              s.seen.c_str());
  const auto& sc = s.scraped;
  if (sc.scrapes + sc.failures > 0)
    std::printf("%-58s %llu GETs of /metrics answered, %llu failed, %.1f KiB each, %.2f ms each on average, %.1f ms "
                "at most\n",
                "", static_cast<unsigned long long>(sc.scrapes), static_cast<unsigned long long>(sc.failures),
                sc.scrapes ? sc.bytes / 1024.0 / static_cast<double>(sc.scrapes) : 0.0, sc.mean_ms(), sc.max_ms);
}

/// Prometheus scraping every node's /metrics once a second against nothing
/// scraped, alternated in one run (not scraped, scraped, ...), `rounds`
/// rounds: the single hop (os, its throughput) and end to end (os, all at
/// once). Both sides serve the endpoint, so that the scraping alone differs.
void scrape_on_off(std::size_t events, std::size_t bookings, int rounds) {
  side hop[2], e2e[2];
  // The order turns each round (off, on, then on, off), so that neither
  // side always runs on the machine the other just warmed.
  for (int round = 0; round < rounds; ++round)
    for (int k = 0; k <= 1; ++k) {
      const int on = (round % 2) ? 1 - k : k;
      const auto r = single_hop(events, "os", troupe::test::keys::on, on ? metrics::scraped : metrics::served);
      hop[on].add(r.events_per_s, r.cpu_us_per_event(), r.scraped);
    }
  for (int round = 0; round < rounds; ++round)
    for (int k = 0; k <= 1; ++k) {
      const int on = (round % 2) ? 1 - k : k;
      const auto r = end_to_end(bookings, 1e6, "os", troupe::test::keys::on, on ? metrics::scraped : metrics::served);
      const auto cpu = troupe::bench::total(r["cpu_s"].get<std::map<std::string, double>>());
      const auto& j = r["scraped"];
      troupe::bench::scrape_stats s;
      s.scrapes = j["scrapes"].get<std::uint64_t>();
      s.failures = j["failures"].get<std::uint64_t>();
      s.bytes = j["bytes"].get<std::uint64_t>();
      s.total_ms = j["total_ms"].get<double>();
      s.max_ms = j["max_ms"].get<double>();
      e2e[on].add(r["bookings_per_second"].get<double>(), bookings ? 1e6 * cpu / bookings : 0.0, s);
    }
  const auto n = std::to_string(rounds);
  print_side("single hop, os, metrics not scraped, " + n + " runs", "events/s", hop[0]);
  print_side("single hop, os, every node scraped once a second, " + n + " runs", "events/s", hop[1]);
  print_side("end to end, os, metrics not scraped, " + n + " runs", "bookings/s", e2e[0]);
  print_side("end to end, os, every node scraped once a second, " + n + " runs", "bookings/s", e2e[1]);
  const auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::printf("%-58s %12.3fx single hop (median %.3fx), %.3fx end to end (median %.3fx); target: 0.95x or more\n",
              "scraped / not scraped, best against best", ratio(hop[1].best(), hop[0].best()),
              ratio(hop[1].median(), hop[0].median()), ratio(e2e[1].best(), e2e[0].best()),
              ratio(e2e[1].median(), e2e[0].median()));
}

/// The trace journal on (the default) against off (`trace-records: 0`),
/// alternated in one run with the order turning each round, `rounds`
/// rounds: the single hop's throughput and end to end, durability os.
void journal_on_off(std::size_t events, std::size_t bookings, int rounds) {
  side hop[2], e2e[2];
  for (int round = 0; round < rounds; ++round)
    for (int k = 0; k <= 1; ++k) {
      const int on = (round % 2) ? 1 - k : k;
      const auto r = single_hop(events, "os", troupe::test::keys::on, metrics::none, on == 1);
      hop[on].add(r.events_per_s, r.cpu_us_per_event(), {});
    }
  for (int round = 0; round < rounds; ++round)
    for (int k = 0; k <= 1; ++k) {
      const int on = (round % 2) ? 1 - k : k;
      const auto r = end_to_end(bookings, 1e6, "os", troupe::test::keys::on, metrics::none, on == 1);
      const auto cpu = troupe::bench::total(r["cpu_s"].get<std::map<std::string, double>>());
      e2e[on].add(r["bookings_per_second"].get<double>(), bookings ? 1e6 * cpu / bookings : 0.0, {});
    }
  const auto n = std::to_string(rounds);
  print_side("single hop, os, trace journal off, " + n + " runs", "events/s", hop[0]);
  print_side("single hop, os, trace journal on, " + n + " runs", "events/s", hop[1]);
  print_side("end to end, os, trace journal off, " + n + " runs", "bookings/s", e2e[0]);
  print_side("end to end, os, trace journal on, " + n + " runs", "bookings/s", e2e[1]);
  const auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::printf("%-58s %12.3fx single hop (median %.3fx), %.3fx end to end (median %.3fx)\n",
              "journal on / off, best against best", ratio(hop[1].best(), hop[0].best()),
              ratio(hop[1].median(), hop[0].median()), ratio(e2e[1].best(), e2e[0].best()),
              ratio(e2e[1].median(), e2e[0].median()));
}

} // namespace

int run(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::size_t events = 200000, bookings = 5000;
  std::set<std::string> only;  // none: every part but those that run only when asked
  double max_rate = 0;  // the single hop's maximum, when known without measuring it
  std::vector<double> only_rates;  // hop-latency at these rates alone
  int rounds = 0;                  // --runs: hop-latency and e2e each this often (1), scrape rounds (5)
  std::string plots_dir;           // --plots: the series, results.json and PNGs here
  unsigned clients = 4;  // gateway: client threads
  for (int i = 1; i < argc; ++i) {
    const auto value = [&] { return i + 1 < argc ? argv[++i] : throw std::runtime_error(std::string(argv[i]) + " takes a value"); };
    if (!std::strcmp(argv[i], "--threads"))
      verbose_threads = true;
    else if (!std::strcmp(argv[i], "--events"))
      events = std::stoul(value());
    else if (!std::strcmp(argv[i], "--bookings"))
      bookings = std::stoul(value());
    else if (!std::strcmp(argv[i], "--only")) {
      std::istringstream list(value());
      for (std::string part; std::getline(list, part, ',');)
        only.insert(part);
    } else if (!std::strcmp(argv[i], "--max-rate"))
      max_rate = std::stod(value());
    else if (!std::strcmp(argv[i], "--rate")) {
      std::istringstream list(value());
      for (std::string r; std::getline(list, r, ',');)
        only_rates.push_back(std::stod(r));
    } else if (!std::strcmp(argv[i], "--runs"))
      rounds = std::max(1, std::stoi(value()));
    else if (!std::strcmp(argv[i], "--plots"))
      plots_dir = value();
    else if (!std::strcmp(argv[i], "--clients"))
      clients = static_cast<unsigned>(std::stoul(value()));
    else
      throw std::runtime_error(std::string("unknown option ") + argv[i]);
  }
  const auto asked = [&](const char* part) { return only.count(part) > 0; };
  const auto runs = [&](const char* part) { return only.empty() || asked(part); };
  troupe::bench::plot_data plotted;
  if (!plots_dir.empty()) {
    plotted.label = troupe::bench::describe_run(troupe::test::source_file("."));
    for (int i = 0; i < argc; ++i)
      plotted.command += (i ? " " : "") + std::string(argv[i]);
  }
  const bool throughput = runs("hop") || asked("hop-throughput");
  const auto size = envelope_size();
  const auto ping_topic = troupe::wire::topic_of("Ping");
  const auto ping = ping_envelope();
  std::printf("troupe bench on %u cores; envelope of a booking event: %zu bytes, of the single hop's Ping: %zu bytes\n",
              std::thread::hardware_concurrency(), size, ping.size());
  // Raw libzmq varies by half from run to run here: take the best of
  // three, so that troupe is compared with the fastest raw figure. Both
  // ways, before any cluster runs (the two-process way forks).
  using troupe::bench::raw_result;
  const auto best_of_3 = [](const auto& measure, std::string& seen) {
    raw_result best;
    char buf[64];
    for (int i = 0; i < 3; ++i) {
      const raw_result one = measure();
      std::snprintf(buf, sizeof buf, "%s%.0f/%.2f", i ? ", " : "", one.msgs_per_s, one.cpu_us_per_msg);
      seen += buf;
      if (one.msgs_per_s > best.msgs_per_s)
        best = one;
    }
    return best;
  };
  raw_result raw1, raw2;
  if (runs("raw") || throughput) {
    std::string seen1, seen2;
    raw1 = best_of_3([&] { return troupe::bench::raw_one_process(1000000, size); }, seen1);
    raw2 = best_of_3([&] { return troupe::bench::raw_two_processes(1000000, ping_topic, ping); }, seen2);
    std::printf("%-58s %12.0f msg/s    (CPU %.2f us/msg, the process; [16 B][%zu B] frames; runs msg/s/us: %s)\n",
                "raw libzmq PUB/SUB, one process, 1M, best of 3", raw1.msgs_per_s, raw1.cpu_us_per_msg, size,
                seen1.c_str());
    std::printf("%-58s %12.0f msg/s    (CPU %.2f us/msg: publisher %.2f, subscriber %.2f; the Ping's [%zu B][%zu B] "
                "frames; runs msg/s/us: %s)\n",
                "raw libzmq PUB/SUB, two processes (local_thr), 1M, best of 3", raw2.msgs_per_s, raw2.cpu_us_per_msg,
                raw2.pub_cpu_us_per_msg, raw2.sub_cpu_us_per_msg, ping_topic.size(), ping.size(), seen2.c_str());
  }
  const auto share = [](double x, double of) { return of > 0 ? 100.0 * x / of : 0.0; };
  double hop_os = 0;
  if (throughput)
    for (const char* d : {"os", "none"}) {
      // Best of three as well, so that both sides are measured alike (one
      // run of either swings by a fifth here).
      hop_result hop;
      std::string runs_seen;
      char buf[64];
      for (int i = 0; i < 3; ++i) {
        const auto one = single_hop(events, d);
        std::snprintf(buf, sizeof buf, "%s%.0f/%.2f", i ? ", " : "", one.events_per_s, one.cpu_us_per_event());
        runs_seen += buf;
        if (one.events_per_s > hop.events_per_s)
          hop = one;
      }
      if (std::string(d) == "os")
        hop_os = hop.events_per_s;
      std::printf("%-58s %12.0f events/s (CPU %.2f us/event/hop: %s; %llu of %zu delivered; %.1f%% of raw one "
                  "process, %.1f%% of raw two processes; runs events/s/us: %s)\n",
                  (std::string("troupe single hop, durability ") + d + ", best of 3").c_str(), hop.events_per_s,
                  hop.cpu_us_per_event(), per_node(hop.cpu_s, static_cast<double>(hop.delivered), 2).c_str(),
                  static_cast<unsigned long long>(hop.delivered), events, share(hop.events_per_s, raw1.msgs_per_s),
                  share(hop.events_per_s, raw2.msgs_per_s), runs_seen.c_str());
      if (verbose_threads)
        std::printf("%-58s by thread, us/event: %s\n", "", per_node(hop.thread_s, static_cast<double>(hop.delivered), 2).c_str());
    }
  if (runs("hop") || runs("hop-latency")) {
    // Half the maximum rate (measured above, else --max-rate, else
    // 40,000/s), then lower rates for the shape of the curve.
    const double half = (hop_os > 0 ? hop_os : max_rate > 0 ? max_rate : 40000) / 2;
    auto rates = !only_rates.empty() ? only_rates
                                     : std::vector<double>{half, half * 0.75, half / 2, 5000.0, 2000.0};
    std::sort(rates.begin(), rates.end(), std::greater<>());  // highest first, whatever the half is
    for (int round = 0; round < std::max(rounds, 1); ++round)
      for (double rate : rates) {
        const auto lat = hop_latency(rate, 5);
        const auto ms = [&](const char* key) { return lat.value(key, 0) / 1000.0; };
        const bool at_half = rate == half && (hop_os > 0 || max_rate > 0);  // of a maximum measured
        std::printf("%-58s %12.0f events/s  (p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms over "
                    "%zu events; CPU %.2f us/event/hop: %s)\n",
                    at_half ? "troupe single hop latency, os, at half the max rate" : "troupe single hop latency, os",
                    rate, ms("p50_us"), ms("p90_us"), ms("p99_us"), ms("p999_us"), ms("max_us"),
                    lat.value("count", std::size_t{0}), lat.value("cpu_us_per_event", 0.0),
                    lat.value("cpu_by_node", std::string("?")).c_str());
        if (verbose_threads)
          std::printf("%-58s by thread, us/event: %s\n", "", lat.value("cpu_by_thread", std::string("?")).c_str());
        if (!lat.is_null())
          plotted.hop.push_back({rate, lat.value("sent_per_s", 0.0), lat.value("count", std::size_t{0}),
                                 ms("p50_us"), ms("p90_us"), ms("p99_us"), ms("p999_us"), ms("max_us"),
                                 lat.value("cpu_us_per_event", 0.0), round + 1});
      }
  }
  const auto report = [&](const char* what, const json& e2e, std::size_t n) {
    std::string rss;
    for (const auto& [node, kib] : e2e["peak_rss_kib"].items())
      rss += (rss.empty() ? "" : ", ") + node + " " + std::to_string(kib.get<long>() / 1024) + " MiB";
    const auto cpu_s = e2e["cpu_s"].get<std::map<std::string, double>>();
    const auto cpu = troupe::bench::total(cpu_s);
    const auto hops = e2e["received_from_peers"].get<double>();
    std::printf("%-58s %12.0f bookings/s (%s of %zu final; p50 %.1f ms, p99 %.1f ms)\n%-58s peak RSS: %s\n", what,
                e2e["bookings_per_second"].get<double>(),
                std::to_string(e2e["confirmed"].get<int>() + e2e["cancelled"].get<int>()).c_str(), n,
                e2e["latency_ms_p50"].get<double>(), e2e["latency_ms_p99"].get<double>(), "", rss.c_str());
    std::printf("%-58s CPU, all nodes: %.0f us/booking (%s); %.2f us per event received from a peer (%.0f events, "
                "%.1f per booking)%s\n",
                "", n ? 1e6 * cpu / n : 0.0, per_node(cpu_s, static_cast<double>(n), 0).c_str(),
                hops > 0 ? 1e6 * cpu / hops : 0.0, hops, n ? hops / n : 0.0,
                e2e["cpu_nodes_gone"].get<std::string>().empty()
                    ? ""
                    : (" (gone before the end, not counted: " + e2e["cpu_nodes_gone"].get<std::string>() + ")").c_str());
  };
  if (asked("curve"))
    curve_on_off(events, bookings);
  if (asked("scrape"))
    scrape_on_off(events, bookings, rounds ? rounds : 5);
  if (asked("journal"))
    journal_on_off(events, bookings, rounds ? rounds : 5);
  if (asked("gateway"))
    troupe::bench::gateway_figures(events, clients);
  if (asked("hosts")) {
    std::string detail;
    json::to_msgpack(sample_detail(), detail);
    troupe::bench::hosts_figures(events, bookings,
                                 {ping_topic, ping, detail,
                                  std::string(roomy_services) + "  notification: {from: \"bench <bench@troupe.test>\"}\n"});
  }
  // All at once measures throughput; at 500/s it measures latency.
  if (runs("e2e"))
    for (int round = 0; round < std::max(rounds, 1); ++round)
      for (const char* d : {"os", "none", "fsync"}) {
        const auto e2e = end_to_end(bookings, 1e6, d);
        report((std::string("end to end, durability ") + d + ": five-service saga, all at once").c_str(), e2e,
               bookings);
        const auto cpu = troupe::bench::total(e2e["cpu_s"].get<std::map<std::string, double>>());
        plotted.e2e.push_back({d, e2e["bookings_per_second"].get<double>(), e2e["latency_ms_p50"].get<double>(),
                               e2e["latency_ms_p99"].get<double>(), bookings ? 1e6 * cpu / bookings : 0.0,
                               round + 1});
      }
  if (runs("latency"))
    report("end to end, durability os: five-service saga, 500 bookings/s", end_to_end(bookings / 2, 500, "os"),
           bookings / 2);
  if (!plots_dir.empty())
    for (const auto& line : troupe::bench::write_plots(plots_dir, plotted, troupe::test::source_file("bench/plots.gp")))
      std::printf("plots: %s\n", line.c_str());
  return 0;
}

// A failure throws, so that every cluster a bench started is stopped by its
// destructor on the way out: no node outlives the bench.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "troupe_bench: %s\n", e.what());
    return 1;
  }
}
