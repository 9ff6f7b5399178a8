#include "gateway/server.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <memory>
#include <thread>

#include <httplib.h>

#include "observe/prometheus.hpp"

#include "actors/runtime/systemd_notify.hpp"
#include "gateway/api.hpp"
#include "gateway/connections.hpp"
#include "gateway/sigv4.hpp"
#include "launcher/keys.hpp"
#include "log/format.hpp"
#include "wire/envelope.hpp"
#include "wire/log_limit.hpp"

namespace troupe::gateway {

namespace {

constexpr auto put_timeout = std::chrono::seconds(10);

signed_request request_of(const httplib::Request& req) {
  signed_request r;
  r.method = req.method;
  r.path = req.path;
  for (const auto& [k, v] : req.params)
    r.query.emplace_back(k, v);
  for (const auto& [k, v] : req.headers)
    if (k != "REMOTE_ADDR" && k != "REMOTE_PORT" && k != "LOCAL_ADDR" && k != "LOCAL_PORT")
      r.headers.emplace_back(k, v);
  r.body = req.body;
  return r;
}

/// Every answer says the gateway's time (see format_http_date).
void stamp_date(httplib::Response& res) {
  if (!res.has_header("Date"))
    res.set_header("Date", format_http_date(wire::now_ms() / 1000));
}

void answer(httplib::Response& res, const reply& r) {
  stamp_date(res);
  res.status = r.status;
  res.set_header("x-amzn-RequestId", wire::make_uuid());
  res.set_content(r.body, "application/x-amz-json-1.1");
}

/// The call's idempotency key, scoped to who signed it; empty for none.
/// nullopt (and the reply) for a key too long or empty.
std::optional<std::string> call_key(const httplib::Request& req, const caller& who, reply& refusal) {
  const std::string scope = who.key_id.empty() ? "-" : who.key_id;
  if (req.has_header("X-Troupe-Idempotency-Key")) {
    const auto k = req.get_header_value("X-Troupe-Idempotency-Key");
    if (k.empty() || k.size() > max_call_key) {
      refusal = error_reply("ValidationException", "X-Troupe-Idempotency-Key must be 1 to " +
                                                       std::to_string(max_call_key) + " characters");
      return std::nullopt;
    }
    return "call:" + scope + ":" + k;
  }
  if (req.has_header("amz-sdk-invocation-id")) {
    const auto k = req.get_header_value("amz-sdk-invocation-id");
    if (!k.empty() && k.size() <= max_call_key)
      return "sdk:" + scope + ":" + k;
  }
  return std::string();
}

/// What the gateway counts, served at GET /metrics in Prometheus's format.
/// Operations are labelled by name only when they are EventBridge's that
/// the gateway answers: a caller cannot grow the label set.
class gateway_metrics {
 public:
  static std::string operation_label(std::string_view op) {
    for (const char* known : {"PutEvents", "TestEventPattern", "ListRules", "DescribeRule", "ListTargetsByRule",
                              "ListEventBuses"})
      if (op == known)
        return known;
    return "other";
  }
  void request(const std::string& op, int status, double seconds) {
    std::lock_guard<std::mutex> lock(m_);
    ++requests_[{op, status}];
    latency_[op].observe(seconds);
  }
  void refused(const std::string& why) {
    std::lock_guard<std::mutex> lock(m_);
    ++refused_[why];
  }
  void entries(std::size_t ok, std::size_t failed, bool ingress_failed) {
    std::lock_guard<std::mutex> lock(m_);
    entries_ok_ += ok;
    entries_failed_ += failed;
    ingress_errors_ += ingress_failed ? 1 : 0;
  }
  std::string text(const std::string& cluster) {
    observe::exposition x;
    {
      std::lock_guard<std::mutex> lock(m_);
      x.family("troupe_gateway_requests_total", "counter", "Requests answered, by operation and HTTP status.");
      for (const auto& [k, n] : requests_)
        x.sample("troupe_gateway_requests_total",
                 {{"cluster", cluster}, {"operation", k.first}, {"status", std::to_string(k.second)}},
                 static_cast<double>(n));
      x.family("troupe_gateway_request_duration_seconds", "histogram", "How long a request took to answer.");
      for (const auto& [op, h] : latency_)
        x.histogram("troupe_gateway_request_duration_seconds", {{"cluster", cluster}, {"operation", op}}, h);
      x.family("troupe_gateway_refused_requests_total", "counter",
               "Requests refused before any operation: their signature or key, by error type.");
      for (const auto& [why, n] : refused_)
        x.sample("troupe_gateway_refused_requests_total", {{"cluster", cluster}, {"error", why}},
                 static_cast<double>(n));
      x.family("troupe_gateway_put_entries_total", "counter",
               "PutEvents entries sent to the ingress node, by whether they became events.");
      x.sample("troupe_gateway_put_entries_total", {{"cluster", cluster}, {"result", "ok"}},
               static_cast<double>(entries_ok_));
      x.sample("troupe_gateway_put_entries_total", {{"cluster", cluster}, {"result", "failed"}},
               static_cast<double>(entries_failed_));
      x.family("troupe_gateway_ingress_errors_total", "counter",
               "PutEvents calls the ingress node did not answer, or refused whole.");
      x.sample("troupe_gateway_ingress_errors_total", {{"cluster", cluster}}, static_cast<double>(ingress_errors_));
    }
    observe::process_metrics(x);
    return x.take();
  }

 private:
  std::mutex m_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, observe::histogram> latency_;
  std::map<std::string, std::uint64_t> refused_;
  std::uint64_t entries_ok_ = 0, entries_failed_ = 0, ingress_errors_ = 0;
};

/// One warning per kind of trouble (and per client address) every 10 s at
/// most, with how many were held back: a client can make these happen at
/// will.
class trouble_log {
 public:
  explicit trouble_log(spdlog::logger& log) : log_(log) {}

  void operator()(const std::string& key, const std::string& line) {
    std::lock_guard lock(mutex_);
    const auto held = limit_.admit(key);
    if (!held)
      return;
    log_.warn("{}{}", line, *held ? " (and " + std::to_string(*held) + " more like it since)" : std::string());
  }

 private:
  spdlog::logger& log_;
  std::mutex mutex_;
  wire::log_limit limit_;
};

}  // namespace

int serve(const cluster::config& cfg, const server_options& opts) {
  if (!cfg.gateway) {
    std::fprintf(stderr, "troupe: gateway: %s has no 'gateway:' section: add one with 'listen', 'ingress' and "
                         "'access-keys' (see README, \"EventBridge's API\")\n", cfg.file.c_str());
    return 2;
  }
  const auto& g = *cfg.gateway;
  const auto listen = cluster::parse_listen(opts.listen.empty() ? g.listen : opts.listen);
  if (!listen) {
    std::fprintf(stderr, "troupe: gateway: --listen '%s' is not ADDRESS:PORT with an IP address\n",
                 opts.listen.c_str());
    return 2;
  }
  if (g.allow_unsigned && !listen->loopback) {
    std::fprintf(stderr, "troupe: gateway: the config takes unsigned requests, which is allowed on loopback only, "
                         "and --listen is %s\n", opts.listen.c_str());
    return 2;
  }
  // Every secret is read before anything listens: a key that cannot be
  // read is said now, not at its first request.
  std::map<std::string, std::string> secrets;
  int bad = 0;
  for (const auto& k : g.access_keys) {
    auto s = cluster::secret_access_key(k.secret);
    if (!s) {
      std::fprintf(stderr, "troupe: gateway: access key %s: %s\n", k.id.c_str(), s.err().message.c_str());
      ++bad;
      continue;
    }
    secrets.emplace(k.id, std::move(*s));
  }
  if (bad)
    return 2;
  const auto* ingress = cfg.find_node(g.ingress);
  if (!g.client.empty())
    cli::use_client(g.client);
  if (cfg.secure()) {  // the gateway's own key, checked now for the same reason
    const auto* client = cfg.find_client(g.client);
    if (auto k = cluster::secret_key(client->secret); !k) {
      std::fprintf(stderr, "troupe: gateway: client %s: %s\n", g.client.c_str(), k.err().message.c_str());
      return 2;
    }
  }

  // From here on the gateway runs: what it says goes to its log, on
  // stdout as a node's (a refusal above is the command line's, on stderr).
  const auto log = log::make_stdout_logger("gateway", "gateway", log::options_for_stdout(opts.log_format));
  trouble_log trouble(*log);
  gateway_metrics metrics;
  // One control connection per HTTP worker thread: a DEALER carries one
  // request at a time.
  api operations(cfg, [&cfg, ingress, &trouble, &metrics](const std::vector<wire::put_entry>& entries)
                          -> result<std::vector<wire::put_result>> {
    thread_local std::unique_ptr<wire::client> control;
    if (!control) {
      auto c = cli::connect(cfg, *ingress, cluster::producer);
      if (!c)
        return c.err();
      control = std::move(*c);
    }
    wire::control_request req;
    req.verb = "put";
    req.entries = entries;
    auto rep = control->call(req, put_timeout);
    if (!rep || !rep->ok || rep->results.size() != entries.size())
      metrics.entries(0, entries.size(), true);
    else {
      const auto ok = static_cast<std::size_t>(
          std::count_if(rep->results.begin(), rep->results.end(), [](const wire::put_result& r) { return r.ok(); }));
      metrics.entries(ok, entries.size() - ok, false);
    }
    if (!rep) {
      trouble("ingress", "PutEvents: the ingress node " + ingress->name + " (" + ingress->control +
                             ") did not answer: " + rep.err().message + "; callers get InternalException");
      return error{rep.err().code, "the ingress node " + ingress->name + " (" + ingress->control +
                                       "): " + rep.err().message};
    }
    if (!rep->ok)
      return error{wire::errc::invalid_field, "the ingress node " + ingress->name + " refused: " + rep->body};
    if (rep->results.size() != entries.size())
      return error{wire::errc::wrong_shape, "the ingress node " + ingress->name + " answered " +
                                                std::to_string(rep->results.size()) + " results for " +
                                                std::to_string(entries.size()) + " entries"};
    return std::move(rep->results);
  });

  httplib::Server http;
  const unsigned threads = opts.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(16 * 1024 * 1024);
  http.set_keep_alive_max_count(100000);
  http.set_tcp_nodelay(true);
  // httplib's default sets SO_REUSEPORT, which lets a second gateway bind
  // the same port and take half the calls: SO_REUSEADDR only.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    answer(res, error_reply("InternalException", "The gateway failed to answer this request.", 500));
  });
  http.Get("/metrics", [&metrics, &cfg](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.text(cfg.cluster), observe::content_type);
    stamp_date(res);
  });
  http.Post("/", [&](const httplib::Request& req, httplib::Response& res) {
    const auto started = std::chrono::steady_clock::now();
    const auto target = req.get_header_value("X-Amz-Target");
    struct timed {
      gateway_metrics& m;
      const std::string& target;
      httplib::Response& res;
      std::chrono::steady_clock::time_point started;
      ~timed() {
        constexpr std::string_view prefix = "AWSEvents.";
        const auto op = target.rfind(prefix, 0) == 0 ? gateway_metrics::operation_label(
                                                           std::string_view(target).substr(prefix.size()))
                                                     : std::string("other");
        m.request(op, res.status,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      }
    } timing{metrics, target, res, started};
    constexpr std::string_view prefix = "AWSEvents.";
    if (target.rfind(prefix, 0) != 0) {
      answer(res, error_reply("UnknownOperationException",
                              target.empty() ? "No X-Amz-Target header: say which operation, as "
                                               "'X-Amz-Target: AWSEvents.PutEvents'"
                                             : "Unknown operation '" + target + "'"));
      return;
    }
    caller who;
    if (req.has_header("Authorization") || !g.allow_unsigned) {
      const auto v = verify(request_of(req), g.region,
                            [&secrets](const std::string& id) -> std::optional<std::string> {
                              auto it = secrets.find(id);
                              if (it == secrets.end())
                                return std::nullopt;
                              return it->second;
                            },
                            wire::now_ms() / 1000);
      if (!v.ok()) {
        metrics.refused(v.error_type);
        trouble("refused " + req.remote_addr, "refused a request from " + req.remote_addr + ": " + v.error_type +
                                                  ": " + v.message);
        answer(res, error_reply(v.error_type, v.message));
        return;
      }
      const auto* key = g.find_key(v.access_key_id);
      who = {key->id, key->roles, key->sources};
    } else {
      who.roles = cluster::producer | cluster::reader | cluster::operator_;
    }
    reply refusal;
    const auto idem = call_key(req, who, refusal);
    if (!idem) {
      answer(res, refusal);
      return;
    }
    answer(res, operations.handle(std::string_view(target).substr(prefix.size()), req.body, who, *idem));
  });
  // httplib's own refusals, in EventBridge's shape.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 || res.status == 405 || req.method != "POST") {
      answer(res, error_reply("UnknownOperationException", "troupe's gateway answers POST / with X-Amz-Target: "
                                                            "AWSEvents.* (not " + req.method + " " + req.path + ")", 404));
    } else if (res.status == 413) {
      answer(res, error_reply("ValidationException", "The request is over 16 MiB.", 413));
    } else if (res.body.empty()) {
      answer(res, error_reply("SerializationException", "The request is not well-formed HTTP/1.1.", res.status));
    }
    stamp_date(res);
  });

  if (!http.bind_to_port(listen->host, listen->port)) {
    log->error("cannot listen on {}:{} (in use, or not an address of this machine)", listen->host, listen->port);
    return 1;
  }
  // SIGINT and SIGTERM stop the server from a thread of their own; the
  // connections still open are cut, so that none holds the stop up. Every
  // other thread starts with them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  connection_watch connections(static_cast<std::uint16_t>(listen->port), std::chrono::seconds(opts.max_connection_age));
  std::thread stopper([&http, &connections, &stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != 0) {
      http.stop();
      connections.cut_all();
    }
  });
  const std::string url = "http://" + (listen->host.find(':') != std::string::npos ? "[" + listen->host + "]"
                                                                                   : listen->host) +
                          ":" + std::to_string(listen->port);
  if (g.allow_unsigned)
    log->warn("requests without a signature are taken as every role (unsigned: true); only processes on this "
              "machine can reach {}", url);
  log->info("EventBridge's API for cluster {} at {} (bus {}, region {}); PutEvents go to node {}", cfg.cluster, url,
            cfg.cluster, g.region, ingress->name);
  runtime::notify_ready("EventBridge API at " + url);
  http.listen_after_bind();
  runtime::notify_stopping();
  pthread_kill(stopper.native_handle(), SIGTERM);  // a stop from elsewhere: the stopper waits no more
  stopper.join();
  log->info("stopped");
  return 0;
}

}  // namespace troupe::gateway
