#include "actors/bus.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/spawn_options.hpp>

#include "observe/prometheus.hpp"
#include "wire/envelope.hpp"

namespace troupe {

namespace {

constexpr auto query_timeout = std::chrono::seconds(10);
constexpr auto tick_interval = std::chrono::milliseconds(50);

/// The core and what it asks of the world: the endpoint it runs on, the
/// store it commits there, the service hosts in CAF.
class loop_bus final : public node_bus, public runtime::bus_port {
 public:
  loop_bus(caf::actor_system& sys, runtime::bus_setup setup, std::shared_ptr<store::node_store> store,
           std::string store_path)
      : sys_(sys),
        store_(std::move(store)),
        store_path_(std::move(store_path)),
        node_(setup.node),
        cfg_(setup.cfg),
        core_(std::make_unique<runtime::bus_core>(std::move(setup), *this)) {}

  void add_service(const std::string& name, protocol::service_host_actor host) override { services_[name] = host; }
  wire::endpoint_handlers handlers(std::function<void(int, const std::string&)> log) override;

  // From the service hosts, on their thread.
  void answers(std::vector<runtime::answer> items) override {
    ep_->post([this, items = std::move(items)]() mutable { core_->on_answers(items); });
  }
  void crashed(std::string service) override {
    ep_->post([this, service = std::move(service)] { core_->on_crashed(service); });
  }

  // What the core asks, on the loop.
  void deliver(const std::string& service, std::vector<runtime::delivery> batch) override {
    caf::anon_send(services_.at(service), protocol::deliver_atom::value, protocol::delivery_batch{std::move(batch)});
  }
  void retry_after(std::chrono::milliseconds wait, runtime::delivery d) override {
    ep_->at(steady_now() + wait, [this, d = std::move(d)]() mutable { core_->on_retry_due(std::move(d)); });
  }
  void write(store::node_store::job job, continuation then) override {
    store_->submit(std::move(job), [this, then = std::move(then)] { then(*core_); });
  }
  void chore(store::node_store::job job) override { store_->submit_chore(std::move(job)); }
  void publish(std::vector<std::pair<std::string, std::string>> frames) override { ep_->publish(std::move(frames)); }
  void send_peer(const std::string& node, std::string bytes) override { ep_->send_peer(node, std::move(bytes)); }
  void reply(const std::string& identity, std::string bytes) override { ep_->reply(identity, std::move(bytes)); }
  void restore(const std::string& service, std::vector<store::state_row> rows) override {
    caf::anon_send(services_.at(service), protocol::restore_atom::value, protocol::state_rows{std::move(rows)});
  }
  void query(const std::string& service, const std::string& what, const std::string& args,
             std::function<void(runtime::bus_core&, bool, std::string)> then) override;
  void service_stats(std::function<void(runtime::bus_core&, nlohmann::json)> then) override;
  void read_store(runtime::page_bounds bounds,
                  std::function<void(runtime::bus_core&, result<wire::read_page>)> then) override;
  nlohmann::json io_stats() override;
  void inspect_store(std::function<result<nlohmann::json>(store::database&)> fn,
                     std::function<void(runtime::bus_core&, result<nlohmann::json>)> then) override;
  void prometheus(const metrics_then& then) override {
    observe::exposition x;
    core_->prometheus(x);
    then(x.take(), core_->unacked_streams());
  }

 private:
  void tick() {
    ep_->at(steady_now() + tick_interval, [this] {
      core_->on_tick();
      tick();
    });
  }

  caf::actor_system& sys_;
  std::shared_ptr<store::node_store> store_;
  std::string store_path_;  // empty: in memory
  std::string node_;
  const cluster::config* cfg_;
  std::map<std::string, protocol::service_host_actor> services_;
  std::unique_ptr<runtime::bus_core> core_;
  wire::endpoint* ep_ = nullptr;  // set on the loop, before the core starts
};

wire::endpoint_handlers loop_bus::handlers(std::function<void(int, const std::string&)> log) {
  wire::endpoint_handlers h;
  h.on_start = [this](wire::endpoint& ep) {
    ep_ = &ep;
    core_->start();
    tick();
  };
  h.on_events = [this](const std::string& from, std::vector<wire::envelope> es) {
    std::vector<runtime::event_ptr> items;
    items.reserve(es.size());
    for (auto& e : es)
      items.push_back(std::make_shared<wire::envelope>(std::move(e)));
    core_->on_events(from, items);
  };
  h.on_request = [this](std::string identity, std::string user, std::string body) {
    core_->on_request(identity, user, body);
  };
  h.on_heartbeat = [this](const std::string& from, std::string body) { core_->on_heartbeat(from, body); };
  h.on_peer = [this](const std::string& node, std::string body) { core_->on_peer(node, body); };
  // Before the loop sleeps: one group commit of what this pass queued; its
  // completions publish and reply, sent at the end of the same pass.
  h.on_idle = [this] { return store_->commit_queued(); };
  h.on_stop = [this] {
    while (store_->commit_queued()) {
    }
  };
  // The store's fatal path: logged, and the process exits for the launcher
  // to restart it from its last commit.
  h.on_fatal = [this](const std::string& why) {
    if (store_->fatal)
      store_->fatal(why);
    std::abort();
  };
  h.log = std::move(log);
  return h;
}

// A query waits for a service's answer without holding up the loop: a
// short-lived actor asks, and posts what it got back to the loop.
void loop_bus::query(const std::string& service, const std::string& what, const std::string& args,
                     std::function<void(runtime::bus_core&, bool, std::string)> then) {
  sys_.spawn([host = services_.at(service), what, args, then, ep = ep_, core = core_.get()](caf::event_based_actor* self) {
    self->request(host, query_timeout, protocol::query_atom::value, what, args)
        .then([=](const std::string& rows) { ep->post([=] { then(*core, true, rows); }); },
              [=](caf::error& err) {
                ep->post([=, why = "query failed: " + self->system().render(err)] { then(*core, false, why); });
              });
  });
}

void loop_bus::service_stats(std::function<void(runtime::bus_core&, nlohmann::json)> then) {
  if (services_.empty()) {
    then(*core_, nlohmann::json::object());
    return;
  }
  sys_.spawn([services = services_, then, ep = ep_, core = core_.get()](caf::event_based_actor* self) {
    auto stats = std::make_shared<nlohmann::json>(nlohmann::json::object());
    auto pending = std::make_shared<std::size_t>(services.size());
    for (const auto& [name, host] : services) {
      auto done = [=, svc = name](nlohmann::json s) {
        (*stats)[svc] = std::move(s);
        if (--*pending == 0)
          ep->post([=] { then(*core, *stats); });
      };
      self->request(host, query_timeout, protocol::stats_atom::value)
          .then([done](const std::string& s) { done(nlohmann::json::parse(s, nullptr, false)); },
                [done](caf::error&) { done(nullptr); });
    }
  });
}

// A read of the store runs in a detached actor, on a thread of its own and
// a connection of its own (WAL: it never blocks the writer), so that the
// loop goes on taking events however long the read takes.
void loop_bus::read_store(runtime::page_bounds bounds,
                          std::function<void(runtime::bus_core&, result<wire::read_page>)> then) {
  if (store_path_.empty()) {
    then(*core_, error{store::errc::io, "node " + node_ + " keeps its store in memory (durability none)"});
    return;
  }
  sys_.spawn<caf::detached>([bounds = std::move(bounds), then, path = store_path_, cfg = cfg_, ep = ep_,
                             core = core_.get()](caf::event_based_actor*) {
    auto page = runtime::read_store_page(path, bounds, wire::now_ms(),
                                         [cfg](const std::string& stream) { return cfg->event_age_of(stream); });
    ep->post([then, core, page = std::move(page)] { then(*core, page); });
  });
}

void loop_bus::inspect_store(std::function<result<nlohmann::json>(store::database&)> fn,
                             std::function<void(runtime::bus_core&, result<nlohmann::json>)> then) {
  if (store_path_.empty()) {
    // A store in memory has one connection, the writer's: read in a job.
    auto out = std::make_shared<result<nlohmann::json>>(nlohmann::json());
    store_->submit(
        [fn = std::move(fn), out](store::txn& t) -> result<void> {
          *out = fn(t.db());
          return {};
        },
        [this, then = std::move(then), out] { then(*core_, std::move(*out)); });
    return;
  }
  sys_.spawn<caf::detached>([fn = std::move(fn), then = std::move(then), path = store_path_, ep = ep_,
                             core = core_.get()](caf::event_based_actor*) {
    auto db = store::open_read_only(path);
    result<nlohmann::json> r = db ? fn(*db) : result<nlohmann::json>(db.err());
    ep->post([then, core, r = std::move(r)]() mutable { then(*core, std::move(r)); });
  });
}

nlohmann::json loop_bus::io_stats() {
  const auto& ws = ep_->stats();
  return {{"wire",
           {{"received", ws.received.load()},
            {"malformed", ws.malformed.load()},
            {"published", ws.published.load()},
            {"requests", ws.requests.load()},
            {"bad_requests", ws.bad_requests.load()},
            {"peers_connected", ws.peers_connected.load()},
            {"reconnects", ws.reconnects.load()},
            {"refused", ws.refused.load()}}},
          {"store", {{"commits", store_->commits()}, {"jobs", store_->jobs()}}}};
}

}  // namespace

std::shared_ptr<node_bus> make_bus(caf::actor_system& sys, runtime::bus_setup setup,
                                   std::shared_ptr<store::node_store> store, std::string store_path) {
  return std::make_shared<loop_bus>(sys, std::move(setup), std::move(store), std::move(store_path));
}

}  // namespace troupe
