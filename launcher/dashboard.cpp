#include "launcher/dashboard.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "launcher/dashboard_graph.hpp"
#include "launcher/dashboard_page.hpp"  // made at build time from dashboard.html
#include "launcher/dlq.hpp"
#include "launcher/trace.hpp"
#include "wire/envelope.hpp"
#include "wire/security.hpp"

namespace troupe::cli {

using json = nlohmann::json;

bool same_key(const std::string& given, const std::string& key) {
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (std::size_t i = 0; i < key.size(); ++i)
    diff |= static_cast<unsigned char>(key[i] ^ (i < given.size() ? given[i] : 0));
  return diff == 0;
}

namespace {

constexpr auto poll_every = std::chrono::seconds(2);
constexpr auto status_timeout = std::chrono::seconds(2);
constexpr auto ask_timeout = std::chrono::seconds(3);  // sagas, a trace, the DLQ
constexpr std::size_t max_sagas = 100;
constexpr std::size_t max_letters = 500;
constexpr std::size_t max_redrive_ids = 100;

std::string text(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

void answer(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(text(body), "application/json");
}

void refuse(httplib::Response& res, int status, const std::string& message) {
  answer(res, status, {{"error", message}});
}

/// Every node's status, polled on a thread of its own, and the rates
/// worked out from the polls. Thread-safe.
class cluster_watch {
 public:
  explicit cluster_watch(const cluster::config& cfg) : cfg_(cfg), thread_([this] { run(); }) {}
  ~cluster_watch() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  cluster_watch(const cluster_watch&) = delete;
  cluster_watch& operator=(const cluster_watch&) = delete;

  json nodes() const {
    std::lock_guard lock(mutex_);
    json out = json::array();
    for (const auto& n : cfg_.nodes) {
      json row{{"name", n.name}, {"host", n.host}, {"services", n.services}, {"peers_expected", cfg_.nodes.size() - 1}};
      const auto it = last_.find(n.name);
      if (it == last_.end()) {
        row["state"] = "unknown";  // not polled yet
      } else if (!it->second.error.empty()) {
        row["state"] = it->second.answered ? "refused" : "down";
        row["error"] = it->second.error;
      } else {
        const auto& s = it->second.status;
        const auto w = s.value("wire", json::object());
        const auto b = s.value("bus", json::object());
        row["state"] = "up";
        row["peers_connected"] = w.value("peers_connected", 0);
        row["counters"] = {{"received", w.value("received", 0ULL)},   {"published", w.value("published", 0ULL)},
                           {"matched", b.value("matched", 0ULL)},     {"malformed", w.value("malformed", 0ULL)},
                           {"forged", b.value("forged", 0ULL)},
                           {"refused", b.value("access_refused", 0ULL) + w.value("refused", 0ULL)}};
        row["service_states"] = s.value("services", json::object());
      }
      if (it != last_.end())
        row["polled_ms"] = it->second.at_ms;
      out.push_back(std::move(row));
    }
    return out;
  }

  json graph(const std::vector<graph_edge>& edges) const {
    std::lock_guard lock(mutex_);
    const auto rates = meter_.current();
    std::set<std::string> dlqs;
    for (const auto& r : cfg_.rules)
      if (!r.dead_letter_queue.empty())
        dlqs.insert(r.dead_letter_queue);
    json nodes = json::array({{{"id", outside_producers}, {"kind", "outside"}, {"state", "up"}}});
    for (const auto& n : cfg_.nodes)
      for (const auto& svc : n.services) {
        std::string state = "unknown";
        if (const auto it = last_.find(n.name); it != last_.end())
          state = !it->second.error.empty() ? (it->second.answered ? "refused" : "down")
                                            : it->second.status.value("services", json::object())
                                                  .value(svc, json::object())
                                                  .value("state", "up");
        nodes.push_back({{"id", svc}, {"kind", dlqs.count(svc) ? "dlq" : "service"}, {"node", n.name}, {"state", state}});
      }
    json out = json::array();
    for (const auto& e : edges) {
      rate_meter::rates r;
      for (const auto& [k, v] : rates) {
        const bool mine = e.dead_letters ? k.second == e.from && dead_letters_to(k.first, e.to)
                                         : k.first == e.rule && k.second == e.to;
        if (!mine)
          continue;
        r.invocations += v.invocations;
        r.failed += v.failed;
        r.retries += v.retries;
        r.to_dlq += v.to_dlq;
        r.totals.invocations += v.totals.invocations;
        r.totals.failed += v.totals.failed;
        r.totals.retries += v.totals.retries;
        r.totals.to_dlq += v.totals.to_dlq;
        r.totals.matched += v.totals.matched;
      }
      json row{{"from", e.from}, {"to", e.to}, {"rule", e.rule}, {"dead_letters", e.dead_letters}};
      if (e.dead_letters) {
        row["per_s"] = r.to_dlq;
        row["total"] = r.totals.to_dlq;
      } else {
        row["per_s"] = r.invocations;
        row["failed_per_s"] = r.failed;
        row["retries_per_s"] = r.retries;
        row["total"] = r.totals.invocations;
        row["failed"] = r.totals.failed;
        row["retries"] = r.totals.retries;
        row["to_dlq"] = r.totals.to_dlq;
      }
      out.push_back(std::move(row));
    }
    return {{"nodes", std::move(nodes)}, {"edges", std::move(out)}, {"span_s", meter_.span_s()}};
  }

 private:
  struct node_answer {
    json status;
    std::string error;
    bool answered = false;  // refused: up, but said no
    std::int64_t at_ms = 0;
  };

  bool dead_letters_to(const std::string& rule, const std::string& dlq) const {
    return std::any_of(cfg_.rules.begin(), cfg_.rules.end(),
                       [&](const auto& r) { return r.name == rule && r.dead_letter_queue == dlq; });
  }

  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      poll();
      lock.lock();
      wake_.wait_for(lock, poll_every, [this] { return stopping_; });
    }
  }

  void poll() {
    std::vector<std::pair<std::string, std::future<result<json>>>> pending;
    for (const auto& n : cfg_.nodes)
      pending.emplace_back(n.name, std::async(std::launch::async, [this, &n] {
                             return status(cfg_, n, status_timeout);
                           }));
    std::map<std::string, node_answer> polled;
    std::map<std::string, json> answered;
    const auto at = wire::now_ms();
    for (auto& [node, fut] : pending) {
      auto r = fut.get();
      auto& a = polled[node];
      a.at_ms = at;
      if (r) {
        answered[node] = *r;
        a.status = std::move(*r);
      } else {
        a.error = r.err().message;
        a.answered = r.err().code == errc::refused;
      }
    }
    std::lock_guard lock(mutex_);
    last_ = std::move(polled);
    meter_.add(at, answered);
  }

  const cluster::config& cfg_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, node_answer> last_;
  rate_meter meter_;
  std::thread thread_;  // last: it starts once the rest is made
};

/// The DLQ services the config's rules name.
std::vector<std::string> dlq_services(const cluster::config& cfg) {
  std::vector<std::string> out;
  for (const auto& r : cfg.rules)
    if (!r.dead_letter_queue.empty() && std::find(out.begin(), out.end(), r.dead_letter_queue) == out.end())
      out.push_back(r.dead_letter_queue);
  return out;
}

/// A query parameter as a number in [1, most]; `fallback` when absent.
std::optional<std::size_t> count_param(const httplib::Request& req, const char* name, std::size_t fallback,
                                       std::size_t most) {
  if (!req.has_param(name))
    return fallback;
  const auto v = req.get_param_value(name);
  if (v.empty() || v.size() > 6 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  const auto n = std::stoul(v);
  if (n < 1 || n > most)
    return std::nullopt;
  return n;
}

json letters(const cluster::config& cfg, std::size_t limit) {
  json rows = json::array(), problems = json::array();
  bool truncated = false;
  for (const auto& dlq : dlq_services(cfg)) {
    auto r = query(cfg, dlq, "list", {{"limit", limit}}, ask_timeout);
    if (!r || !r->is_array()) {
      problems.push_back({{"dlq", dlq}, {"error", r ? "the DLQ answered with something other than a list" : r.err().message}});
      continue;
    }
    truncated = truncated || r->size() >= limit;
    for (const auto& l : *r) {
      const auto ev = l.value("event", json::object());
      rows.push_back({{"dlq", dlq},
                      {"id", l.value("id", "")},
                      {"rule", l.value("RULE_ARN", "")},
                      {"target", l.value("TARGET_ARN", "")},
                      {"node", l.value("NODE", "")},
                      {"error_code", l.value("ERROR_CODE", "")},
                      {"error_message", l.value("ERROR_MESSAGE", "")},
                      {"exhausted", l.value("EXHAUSTED_RETRY_CONDITION", "")},
                      {"retries", l.value("RETRY_ATTEMPTS", 0)},
                      {"last_attempt_ms", l.value("LAST_ATTEMPT_MS", std::int64_t{0})},
                      {"type", ev.value("detail-type", "")},
                      {"event_id", ev.value("id", "")},
                      {"correlation_id", ev.value("correlation_id", "")}});
    }
  }
  return {{"letters", std::move(rows)}, {"problems", std::move(problems)}, {"truncated", truncated}};
}

/// POST /api/dlq/redrive, once the key was checked.
void redrive(const cluster::config& cfg, const httplib::Request& req, httplib::Response& res) {
  const auto body = json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("ids") || !body["ids"].is_array() || body["ids"].empty()
      || body["ids"].size() > max_redrive_ids)
    return refuse(res, 400, "the body must be {\"ids\": [...]}, 1 to " + std::to_string(max_redrive_ids) +
                                " dead-letter ids");
  dlq_options o;
  o.dlq = body.value("dlq", std::string(cluster::dlq_service));
  const auto known = dlq_services(cfg);
  if (std::find(known.begin(), known.end(), o.dlq) == known.end())
    return refuse(res, 400, "no rule has the DLQ '" + o.dlq + "'");
  for (const auto& id : body["ids"]) {
    if (!id.is_string() || id.get<std::string>().empty() || id.get<std::string>().size() > 128)
      return refuse(res, 400, "each id must be a dead letter's id");
    o.ids.push_back(id.get<std::string>());
  }
  const auto out = dlq_move_records(cfg, o, false);
  std::string why;
  for (const auto& p : out.problems)
    why += (why.empty() ? "" : "; ") + p;
  if (out.code != 0 && out.moved.empty())
    return answer(res, 409, {{"error", why}, {"problems", out.problems}});
  answer(res, out.code == 0 ? 200 : 202, {{"redriven", out.moved}, {"left", out.left}, {"problems", out.problems}});
}

/// Whether `host` (a Host header) names this loopback listener: another
/// name there is a page elsewhere that rebound its name to 127.0.0.1 to
/// read this one.
bool loopback_host(const std::string& host, int port) {
  const auto p = ":" + std::to_string(port);
  for (const char* h : {"127.0.0.1", "localhost", "[::1]"})
    if (host == std::string(h) + p || host == h)
      return true;
  return false;
}

void secure_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 std::string("default-src 'none'; script-src '") + dashboard_page::script_hash + "'; style-src '" +
                     dashboard_page::style_hash + "'; connect-src 'self'; img-src data:; base-uri 'none'; "
                     "form-action 'none'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
}

void routes(httplib::Server& http, const cluster::config& cfg, cluster_watch& watch, const std::string& key) {
  const auto edges = saga_graph(cfg, registry());
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(dashboard_page::html, "text/html; charset=utf-8");
  });
  http.Get("/api/info", [&cfg, &key](const httplib::Request&, httplib::Response& res) {
    json nodes = json::array();
    for (const auto& n : cfg.nodes)
      nodes.push_back(n.name);
    answer(res, 200, {{"cluster", cfg.cluster}, {"operator", !key.empty()}, {"nodes", nodes},
                      {"terminal", cfg.observability.terminal}, {"poll_ms", 2000}});
  });
  http.Get("/api/graph", [&watch, edges](const httplib::Request&, httplib::Response& res) {
    answer(res, 200, watch.graph(edges));
  });
  http.Get("/api/nodes", [&watch](const httplib::Request&, httplib::Response& res) {
    answer(res, 200, {{"nodes", watch.nodes()}});
  });
  http.Get("/api/sagas", [&cfg](const httplib::Request& req, httplib::Response& res) {
    sagas_options o;
    const auto limit = count_param(req, "limit", 20, max_sagas);
    if (!limit)
      return refuse(res, 400, "limit must be 1 to " + std::to_string(max_sagas));
    o.limit = *limit;
    if (req.has_param("stuck")) {
      o.stuck = parse_duration(req.get_param_value("stuck"));
      if (!o.stuck)
        return refuse(res, 400, "stuck must be a duration: 30s, 5m, 2h");
    }
    answer(res, 200, collect_sagas(cfg, o, ask_timeout));
  });
  http.Get(R"(/api/trace/(.{1,200}))", [&cfg](const httplib::Request& req, httplib::Response& res) {
    const auto saga = collect_saga(cfg, req.matches[1], ask_timeout);
    answer(res, saga.value("found", false) ? 200 : 404, saga);
  });
  http.Get("/api/dlq", [&cfg](const httplib::Request& req, httplib::Response& res) {
    const auto limit = count_param(req, "limit", 100, max_letters);
    if (!limit)
      return refuse(res, 400, "limit must be 1 to " + std::to_string(max_letters));
    answer(res, 200, letters(cfg, *limit));
  });
  http.Post("/api/dlq/redrive", [&cfg, &key](const httplib::Request& req, httplib::Response& res) {
    if (key.empty())
      return refuse(res, 403, "redrive is an operator action, and this dashboard takes none: start it with "
                              "--operator-key-file FILE");
    if (!req.has_header("X-Troupe-Operator-Key") || !same_key(req.get_header_value("X-Troupe-Operator-Key"), key))
      return refuse(res, 403, "wrong or missing operator key (X-Troupe-Operator-Key)");
    redrive(cfg, req, res);
  });
}

}  // namespace

int dashboard(const cluster::config& cfg, const dashboard_options& opts) {
  const auto listen = cluster::parse_listen(opts.listen);
  if (!listen) {
    std::fprintf(stderr, "troupe: dashboard: --listen '%s' is not ADDRESS:PORT with an IP address\n",
                 opts.listen.c_str());
    return 2;
  }
  std::string key;
  if (!opts.operator_key_file.empty()) {
    auto k = wire::read_secret_line(opts.operator_key_file, "the operator key");
    if (!k) {
      std::fprintf(stderr, "troupe: dashboard: %s\n", k.err().message.c_str());
      return 2;
    }
    if (k->size() < 16 || !std::all_of(k->begin(), k->end(), [](unsigned char c) { return c > ' ' && c < 0x7f; })) {
      std::fprintf(stderr, "troupe: dashboard: %s does not hold an operator key: 16 or more printable characters "
                           "on its first line (say, `head -c 24 /dev/urandom | base64`)\n",
                   opts.operator_key_file.c_str());
      return 2;
    }
    key = std::move(*k);
  }
  // SIGINT and SIGTERM stop the server from a thread of their own; every
  // other thread, the poller's first, starts with them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  httplib::Server http;
  const unsigned threads = std::max(2u, opts.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(64 * 1024);
  // A connection idle for a second is closed, so that a stop is not held
  // up by a browser's keep-alive; reads and writes are bounded too.
  http.set_keep_alive_timeout(1);
  http.set_read_timeout(5);
  http.set_write_timeout(5);
  // httplib's default sets SO_REUSEPORT, which lets a second dashboard bind
  // the same port and take half the requests: SO_REUSEADDR only.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const bool loopback = listen->loopback;
  const int port = listen->port;
  http.set_pre_routing_handler([loopback, port](const httplib::Request& req, httplib::Response& res) {
    secure_headers(res);
    if (loopback && !loopback_host(req.get_header_value("Host"), port)) {
      refuse(res, 421, "this dashboard answers requests for 127.0.0.1, localhost or [::1] only");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string why = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "troupe: dashboard: %s %s failed: %s\n", req.method.c_str(), req.path.c_str(), why.c_str());
    refuse(res, 500, "the dashboard failed to answer this request: " + why);
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty())
      refuse(res, res.status, res.status == 404 ? "no " + req.method + " " + req.path + " here" : "bad request");
  });
  if (!http.bind_to_port(listen->host, listen->port)) {
    std::fprintf(stderr, "troupe: dashboard: cannot listen on %s:%d (in use, or not an address of this machine)\n",
                 listen->host.c_str(), listen->port);
    return 1;
  }
  cluster_watch watch(cfg);
  routes(http, cfg, watch, key);
  std::thread stopper([&http, &stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    http.stop();
  });
  const std::string url = "http://" + (listen->host.find(':') != std::string::npos ? "[" + listen->host + "]"
                                                                                   : listen->host) +
                          ":" + std::to_string(listen->port) + "/";
  if (!loopback)
    std::fprintf(stderr, "troupe: dashboard: WARNING: %s is not a loopback address: whoever reaches it reads the "
                         "cluster's sagas, events and dead letters, and the operator key crosses the network in "
                         "clear (no TLS): put it behind a proxy that authenticates and encrypts\n",
                 url.c_str());
  std::printf("troupe dashboard: the live page of cluster %s at %s (redrive %s)\n", cfg.cluster.c_str(), url.c_str(),
              key.empty() ? "off: no --operator-key-file" : "on, with the operator key");
  std::fflush(stdout);
  http.listen_after_bind();
  pthread_kill(stopper.native_handle(), SIGTERM);  // a stop from elsewhere: the stopper waits no more
  stopper.join();
  return 0;
}

}  // namespace troupe::cli
