// run_node: opens the store, builds the services and rebuilds their state,
// makes the bus and spawns the service hosts, starts the wire endpoint
// (whose thread runs the bus from then on), and runs until SIGINT or
// SIGTERM; then stops everything in the reverse order.
#include "actors/node.hpp"
#include "actors/runtime/error.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <mutex>
#include <csignal>
#include <cstring>
#include <map>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/bus.hpp"
#include "actors/faults.hpp"
#include "actors/runtime/node_keys.hpp"
#include "actors/runtime/ready_marker.hpp"
#include "actors/runtime/systemd_notify.hpp"
#include "actors/runtime/topology.hpp"
#include "actors/runtime/trace_journal.hpp"
#include "actors/service_host.hpp"
#include "cluster/gateway.hpp"
#include "observe/metrics_server.hpp"
#include "observe/prometheus.hpp"
#include "wire/endpoint.hpp"

namespace troupe {

namespace {

std::shared_ptr<spdlog::logger> make_logger(const std::string& node, log::format format) {
  return log::make_stdout_logger("node." + node, node, log::options_for_stdout(format));
}

struct built_service {
  std::string name;
  std::shared_ptr<service> impl;
  runtime::service_maker remake;
};

/// Builds the node's services from their settings, wrapping those with
/// injected faults. An error names the service and what is wrong.
result<std::vector<built_service>> build_services(const cluster::config& cfg, const cluster::node_spec& spec,
                                                  const service_registry& registry, bool sync_writes,
                                                  spdlog::logger& log) {
  std::vector<built_service> out;
  for (const auto& sname : spec.services) {
    cluster::diagnostics diag(cfg.file);
    service_context ctx{spec.name, spec.data_dir, cfg.dir, sync_writes};
    const auto* factory = registry.find(sname);
    std::unique_ptr<service> s = factory ? (*factory)(cfg.settings_of(sname), ctx, diag) : nullptr;
    if (!s)
      return error{runtime::errc::service_failed, "cannot create service " + sname + ": " + diag.to_string()};
    const auto f = cfg.faults.find(sname);
    const bool faulty = f != cfg.faults.end();
    // A restart builds the service anew from its settings; injected faults
    // keep their wrapper (its dice, counts and outage clock).
    auto remake = [factory = *factory, settings = cfg.settings_of(sname), ctx,
                   faulty](std::shared_ptr<service> crashed) -> std::shared_ptr<service> {
      cluster::diagnostics d("restart");
      auto fresh = factory(settings, ctx, d);
      if (!fresh)
        throw std::runtime_error(d.to_string());
      if (!faulty)
        return std::shared_ptr<service>(std::move(fresh));
      auto wrapper = std::static_pointer_cast<faulty_service>(crashed);
      wrapper->replace(std::move(fresh));
      return wrapper;
    };
    if (faulty) {
      const auto& fs = f->second;
      log.warn("[service={}] injecting faults (transient {}, crash {}, poison {}, delay {} s with probability {}, "
               "outage {} s after start for {} s)",
               sname, fs.transient, fs.crash, fs.poison_json.empty() ? "none" : fs.poison_json,
               fs.delay.count() / 1000.0, fs.delay_probability, fs.outage_after.count() / 1000.0,
               fs.outage_for.count() / 1000.0);
      s = std::make_unique<faulty_service>(std::move(s), fs, fs.seed.value_or(std::random_device{}()));
    }
    out.push_back({sname, std::shared_ptr<service>(std::move(s)), std::move(remake)});
  }
  return out;
}

/// Gives the services back their stored rows, then starts them.
result<std::size_t> restore_and_start(std::vector<built_service>& services, store::node_store& db) {
  std::size_t restored = 0;
  std::string problem;
  db.for_each_state([&](const std::string& svc, const std::string& table, const std::string& key,
                        const std::string& value) {
    for (auto& s : services)
      if (s.name == svc) {
        try {
          s.impl->restore(table, key, nlohmann::json::parse(value, nullptr, false));
          ++restored;
        } catch (const std::exception& e) {
          problem = "cannot restore service state: " + svc + "/" + table + "/" + key + ": " + e.what();
        }
      }
  });
  if (!problem.empty())
    return error{runtime::errc::config, problem};
  for (auto& s : services) {
    try {
      s.impl->start();
    } catch (const std::exception& e) {
      return error{runtime::errc::service_failed, "service " + s.name + " failed to start: " + e.what()};
    }
  }
  return restored;
}

/// The endpoint's options: this node's sockets, its peers, and the topics
/// its rules consume.
wire::endpoint_options endpoint_options_of(const cluster::config& cfg, const cluster::node_spec& spec,
                                           const runtime::topology& topo,
                                           std::optional<wire::endpoint_security> security) {
  wire::endpoint_options opts;
  opts.node = spec.name;
  opts.pub_bind = spec.pub_bind;
  opts.control_bind = spec.control_bind;
  opts.security = std::move(security);
  for (const auto& n : cfg.nodes)
    if (n.name != spec.name)
      opts.peers.push_back({n.name, n.pub, n.control, n.public_key});
  if (topo.consumes_everything(spec.name)) {
    opts.topics = {""};
  } else {
    std::set<std::string> topics;
    for (const auto& t : topo.consumes.at(spec.name))
      topics.insert(wire::topic_of(t));
    opts.topics.assign(topics.begin(), topics.end());
  }
  return opts;
}

/// The wire's log lines, into the node's log.
std::function<void(int, const std::string&)> wire_log(std::shared_ptr<spdlog::logger> log) {
  return [log](int level, const std::string& line) {
    log->log(level == 0 ? spdlog::level::info : level == 1 ? spdlog::level::warn : spdlog::level::err, line);
  };
}

void configure_scheduler(caf::actor_system_config& c) {
  // One scheduler thread, for the services: the wire thread (with the bus
  // and the store) runs beside it. Measured on the saga when the bus was
  // an actor too: about 3,300 bookings/s with one thread, 2,900 with two.
  c.set("scheduler.max-threads", 1);
  // Work sharing: an idle worker waits on a condition variable and wakes
  // when work arrives. Work stealing's idle workers sleep (10 ms when
  // relaxed) without being woken, which put up to 10 ms on every hop of an
  // idle cluster (measured: saga p50 38 ms at 500 bookings/s).
  c.set("scheduler.policy", caf::atom("sharing"));
  c.set("logger.file-verbosity", caf::atom("quiet"));
  c.set("logger.console-verbosity", caf::atom("quiet"));
}

std::string joined(const std::vector<std::string>& xs, const char* empty_as = "") {
  std::string s;
  for (const auto& x : xs)
    s += (s.empty() ? "" : ",") + (x.empty() ? std::string(empty_as) : x);
  return s;
}

/// Stop signals are taken by sigwait, never by a handler running on some
/// thread: they are blocked before any thread starts.
sigset_t block_stop_signals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  return stop;
}

/// Takes `<data-dir>/node.lock` for the life of this process (the kernel
/// lets it go when the process ends, however it ends): two processes
/// writing one store would each take the other's commits for its own.
/// The file names the holder's pid, for the message of the one refused.
result<void> lock_data_dir(const std::filesystem::path& dir) {
  const auto path = dir / "node.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return error{runtime::errc::io, "cannot open " + path.string() + ": " + std::strerror(errno)};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    [[maybe_unused]] auto n = ::pread(fd, pid, sizeof pid - 1, 0);
    ::close(fd);
    const std::string holder = pid[0] ? std::string(" (pid ") + std::strtok(pid, "\n") + ")" : std::string();
    return error{runtime::errc::io, "the store in " + dir.string() + " is in use by another process" + holder
                                        + ": is this node running already?"};
  }
  const auto me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    return error{runtime::errc::io, "cannot write " + path.string() + ": " + std::strerror(errno)};
  return {};  // fd stays open, and locked, until the process ends
}

/// The node's store, in its data directory: the store comes first, and a
/// node never starts on a store it cannot read, or one another process has. A failing commit later
/// stops the process, for the launcher to restart it from its last commit.
result<std::shared_ptr<store::node_store>> open_store(const cluster::node_spec& spec, store::durability durability,
                                                      store::snapshot& snap, std::shared_ptr<spdlog::logger> log) {
  std::error_code ec;
  std::filesystem::create_directories(spec.data_dir, ec);
  if (ec)
    return error{runtime::errc::io, "cannot create data directory " + spec.data_dir.string() + ": " + ec.message()};
  TROUPE_TRY(lock_data_dir(spec.data_dir));
  // Only the lock's holder may speak for the node: a marker left by one
  // that was killed goes now.
  runtime::remove_ready_marker(spec.data_dir);
  auto opened = store::node_store::open((spec.data_dir / "node.db").string(), durability, snap);
  if (!opened)
    return error{opened.err().code, "cannot open the store: " + opened.err().message};
  std::shared_ptr<store::node_store> db = std::move(*opened);
  db->fatal = [log](const std::string& why) {
    log->critical("{}; stopping so that the launcher restarts this node from its last commit", why);
    log->flush();
    std::_Exit(3);
  };
  return db;
}

/// What a scrape of the node's /metrics answers: the bus's metrics, asked
/// of its loop (nothing, a 503, when the loop does not answer within 5 s),
/// then the age of each stream's oldest unacked event, read from the store
/// on this thread's own read-only connection, and the process's figures.
observe::metrics_server::producer metrics_producer(const std::string& node, wire::endpoint* ep,
                                                   std::shared_ptr<node_bus> bus, std::string store_path) {
  struct reader {
    std::mutex m;
    std::optional<store::database> db;
  };
  auto r = std::make_shared<reader>();
  return [node, ep, bus, store_path, r]() -> std::optional<std::string> {
    using lagging = std::vector<std::pair<std::string, std::uint64_t>>;
    auto p = std::make_shared<std::promise<std::pair<std::string, lagging>>>();
    auto f = p->get_future();
    ep->post([bus, p] { bus->prometheus([p](std::string text, lagging lag) { p->set_value({std::move(text), std::move(lag)}); }); });
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
      return std::nullopt;
    auto [text, lag] = f.get();
    observe::exposition x;
    x.family("troupe_oldest_unacked_age_seconds", "gauge",
             "How long the oldest event of this node's stream that a consumer has not acked has waited.");
    if (!store_path.empty() && !lag.empty()) {
      std::lock_guard<std::mutex> lock(r->m);
      if (!r->db)
        if (auto db = store::open_read_only(store_path))
          r->db = std::move(*db);
      if (r->db) {
        auto oldest = runtime::read_oldest_unacked(*r->db, lag);
        if (!oldest)
          r->db.reset();  // opened afresh at the next scrape
        else
          for (const auto& [stream, at] : *oldest)
            x.sample("troupe_oldest_unacked_age_seconds", {{"node", node}, {"stream", stream}},
                     std::max<double>(0, static_cast<double>(wire::now_ms() - at) / 1000));
      }
    }
    observe::process_metrics(x);
    return text + x.take();
  };
}

/// The bus's starting point: the topology, the local services, and what
/// the store held.
runtime::bus_setup bus_setup_of(const cluster::config& cfg, const std::string& name,
                                std::shared_ptr<const runtime::topology> topo,
                                const std::vector<built_service>& services, store::snapshot snap,
                                std::shared_ptr<spdlog::logger> log, const service_registry& registry) {
  runtime::bus_setup setup;
  setup.node = name;
  setup.registry = &registry;
  setup.cfg = &cfg;
  // The epoch tells this store's streams from those of an earlier store
  // that was lost: it is made once, with the database.
  setup.epoch = snap.epoch;
  setup.topo = std::move(topo);
  for (const auto& s : services)
    setup.services.insert(s.name);
  setup.snap = std::move(snap);
  setup.log = std::move(log);
  return setup;
}

}  // namespace

int run_node(const cluster::config& cfg, const std::string& name, const service_registry& registry,
             log::format log_format) {
  const auto* spec = cfg.find_node(name);
  if (!spec) {
    std::fprintf(stderr, "troupe: no node '%s' in %s\n", name.c_str(), cfg.file.c_str());
    return 2;
  }
  // What a node writes (its store, its services' files) holds events,
  // cards and emails: its owner's alone, whatever the roles say.
  ::umask(077);
  auto log = make_logger(name, log_format);
  spdlog::set_default_logger(log);
  const auto stop_signals = block_stop_signals();
  // The keys first: a node whose secret is not safe never touches its store.
  auto security = runtime::endpoint_security_of(cfg, *spec);
  if (!security) {
    log->error("{}", security.err().message);
    return 2;
  }
  if (auto open = cluster::open_cluster_warning(cfg))
    log->warn("{}", *open);

  const auto durability = store::parse_durability(spec->durability).value_or(store::durability::os);
  store::snapshot snap;
  auto db = open_store(*spec, durability, snap, log);
  if (!db) {
    log->error("{}", db.err().message);
    return 1;
  }
  auto services = build_services(cfg, *spec, registry, durability == store::durability::fsync, *log);
  if (!services) {
    log->error("{}", services.err().message);
    return 2;
  }
  auto restored = restore_and_start(*services, **db);
  if (!restored) {
    log->error("{}", restored.err().message);
    return 1;
  }
  auto topo = runtime::topology_of(cfg);
  if (!topo) {
    log->error("{}", topo.err().message);
    return 2;
  }
  auto topology = std::make_shared<const runtime::topology>(std::move(*topo));
  const auto opts = endpoint_options_of(cfg, *spec, *topology, std::move(*security));

  caf::actor_system_config sys_cfg;
  configure_scheduler(sys_cfg);
  caf::actor_system sys{sys_cfg};
  const auto epoch = snap.epoch;
  const auto pending = snap.inbox.size();
  const auto streams = snap.heads.size();
  auto bus = make_bus(sys, bus_setup_of(cfg, name, topology, *services, std::move(snap), log, registry), *db,
                      durability == store::durability::none ? std::string() : (spec->data_dir / "node.db").string());
  std::vector<protocol::service_host_actor> hosts;
  for (auto& s : *services) {
    hosts.push_back(spawn_service_host(
        sys, std::make_shared<runtime::service_runner>(s.name, s.impl, s.remake, cfg.supervision, log), bus));
    bus->add_service(s.name, hosts.back());
  }
  const auto stop_actors = [&] {
    for (auto& a : hosts)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    hosts.clear();
  };

  // The endpoint's thread runs the bus and commits the store from here on.
  auto ep = wire::endpoint::start(opts, bus->handlers(wire_log(log)));
  if (!ep) {
    log->error("{}", ep.err().message);
    stop_actors();
    return 1;
  }
  // Teardown runs in the reverse order of construction: the endpoint
  // outlives every actor, which post to it.
  std::unique_ptr<wire::endpoint> endpoint = std::move(*ep);
  std::unique_ptr<observe::metrics_server> metrics;
  if (!spec->metrics_bind.empty()) {
    const auto listen = cluster::parse_listen(spec->metrics_bind);
    std::string why;
    if (listen)
      metrics = observe::metrics_server::start(
          listen->host, listen->port,
          metrics_producer(name, endpoint.get(), bus,
                           durability == store::durability::none ? std::string() : (spec->data_dir / "node.db").string()),
          why);
    if (!metrics) {
      log->error("{}", listen ? why : "cannot read the metrics address '" + spec->metrics_bind + "'");
      endpoint->stop();
      stop_actors();
      return 1;
    }
    log->info("metrics: http://{}/metrics", spec->metrics);
  }
  log->info("store {} ({}): {} state rows restored, {} deliveries pending, {} streams",
            (spec->data_dir / "node.db").string(), store::to_string(durability), *restored, pending, streams);
  std::vector<std::string> subs;
  for (const auto& t : opts.topics)
    subs.push_back(t.empty() ? std::string("*") : t.substr(0, t.size() - 1));
  log->info("ready: services [{}], pub {}, control {}, {} peers, subscribed to {}, epoch {}", joined(spec->services),
            spec->pub, spec->control, opts.peers.size(), joined(subs), epoch);

  runtime::notify_ready("serving " + joined(spec->services) + " on " + spec->pub + ", epoch " + std::to_string(epoch));
  if (auto marked = runtime::write_ready_marker(spec->data_dir); !marked)
    log->warn("{}: `troupe probe` will say this node is not ready", marked.err().message);

  // Under systemd with WatchdogSec=, WATCHDOG=1 goes out only while the
  // event loop still runs the tasks posted to it: a wedged loop gets the
  // node restarted.
  const auto period = runtime::watchdog_period();
  auto loop_turned = std::make_shared<std::atomic<bool>>(true);
  int sig = 0;
  for (;;) {
    if (!period) {
      sigwait(&stop_signals, &sig);
      break;
    }
    if (loop_turned->exchange(false))
      runtime::notify_watchdog();
    endpoint->post([loop_turned] { loop_turned->store(true); });
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(*period);
    const timespec wait{static_cast<time_t>(secs.count()),
                        static_cast<long>(std::chrono::nanoseconds(*period - secs).count())};
    sig = sigtimedwait(&stop_signals, nullptr, &wait);
    if (sig > 0)
      break;
  }
  runtime::notify_stopping();
  runtime::remove_ready_marker(spec->data_dir);
  log->info("stopping on {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
  metrics.reset();  // no scrape posts to the loop any more
  endpoint->stop();  // the loop committed what it had queued, and stopped
  stop_actors();
  sys.await_all_actors_done();  // no actor posts to the endpoint any more
  (*db)->stop();
  endpoint.reset();
  log->info("stopped");
  return 0;
}

}  // namespace troupe
