#include "actors/bus.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace troupe {

namespace {

constexpr auto query_timeout = std::chrono::seconds(10);
constexpr auto tick_interval = std::chrono::milliseconds(50);

using protocol::bus_actor;

struct bus_state;
using bus = bus_actor::stateful_pointer<bus_state>;

class actor_port;

struct bus_state {
  [[maybe_unused]] static inline const char* name = "bus";
  std::unique_ptr<actor_port> port;
  std::unique_ptr<runtime::bus_core> core;
  std::vector<std::function<void()>> waiting;  // what came before the endpoint, in order
  ~bus_state();
};

/// What the core asks of the world, done with this actor.
class actor_port : public runtime::bus_port {
 public:
  actor_port(bus self, std::map<std::string, protocol::service_host_actor> services,
             std::shared_ptr<store::node_store> store)
      : self_(self), services_(std::move(services)), store_(std::move(store)) {}

  void deliver(const std::string& service, std::vector<runtime::delivery> batch) override {
    self_->send(services_.at(service), protocol::deliver_atom::value, protocol::delivery_batch{std::move(batch)});
  }
  void retry_after(std::chrono::milliseconds wait, runtime::delivery d) override {
    self_->delayed_send(self_, wait, protocol::retry_atom::value, std::move(d));
  }
  void write(store::node_store::job job, continuation then) override {
    auto me = caf::actor_cast<bus_actor>(self_);
    store_->submit(std::move(job), [me, then = std::move(then)]() mutable {
      caf::anon_send(me, protocol::resume_atom::value, protocol::continuation{std::move(then)});
    });
  }
  void chore(store::node_store::job job) override { store_->submit_chore(std::move(job)); }
  void publish(std::vector<std::pair<std::string, std::string>> frames) override {
    endpoint->publish(std::move(frames));
  }
  void send_peer(const std::string& node, std::string bytes) override { endpoint->send_peer(node, std::move(bytes)); }
  void reply(const std::string& identity, std::string bytes) override { endpoint->reply(identity, std::move(bytes)); }
  void restore(const std::string& service, std::vector<store::state_row> rows) override {
    self_->send(services_.at(service), protocol::restore_atom::value, protocol::state_rows{std::move(rows)});
  }
  void query(const std::string& service, const std::string& what, const std::string& args,
             std::function<void(runtime::bus_core&, bool, std::string)> then) override;
  void service_stats(std::function<void(runtime::bus_core&, nlohmann::json)> then) override;
  nlohmann::json io_stats() override;

  wire::endpoint* endpoint = nullptr;

 private:
  bus self_;
  std::map<std::string, protocol::service_host_actor> services_;
  std::shared_ptr<store::node_store> store_;
};



bus_state::~bus_state() = default;

/// Whether the bus has its endpoint; until then what arrives is kept, in order.
bool ready(bus self) { return self->state.port->endpoint != nullptr; }
void later(bus self, std::function<void()> f) { self->state.waiting.push_back(std::move(f)); }

void actor_port::query(const std::string& service, const std::string& what, const std::string& args,
                       std::function<void(runtime::bus_core&, bool, std::string)> then) {
  auto self = self_;
  self->request(services_.at(service), query_timeout, protocol::query_atom::value, what, args)
      .then([self, then](const std::string& rows) { then(*self->state.core, true, rows); },
            [self, then](caf::error& err) {
              then(*self->state.core, false, "query failed: " + self->system().render(err));
            });
}

void actor_port::service_stats(std::function<void(runtime::bus_core&, nlohmann::json)> then) {
  auto self = self_;
  auto stats = std::make_shared<nlohmann::json>(nlohmann::json::object());
  auto pending = std::make_shared<std::size_t>(services_.size());
  if (*pending == 0) {
    then(*self->state.core, *stats);
    return;
  }
  for (const auto& [name, actor] : services_) {
    auto done = [self, stats, pending, then, svc = name](nlohmann::json s) {
      (*stats)[svc] = std::move(s);
      if (--*pending == 0)
        then(*self->state.core, *stats);
    };
    self->request(actor, query_timeout, protocol::stats_atom::value)
        .then([done](const std::string& s) { done(nlohmann::json::parse(s, nullptr, false)); },
              [done](caf::error&) { done(nullptr); });
  }
}

nlohmann::json actor_port::io_stats() {
  const auto& ws = endpoint->stats();
  return {{"wire",
           {{"received", ws.received.load()},
            {"malformed", ws.malformed.load()},
            {"published", ws.published.load()},
            {"requests", ws.requests.load()},
            {"bad_requests", ws.bad_requests.load()},
            {"peers_connected", ws.peers_connected.load()},
            {"reconnects", ws.reconnects.load()}}},
          {"store", {{"commits", store_->commits()}, {"jobs", store_->jobs()}}}};
}

bus_actor::behavior_type bus_behavior(bus self, runtime::bus_setup setup,
                                      std::map<std::string, protocol::service_host_actor> services,
                                      std::shared_ptr<store::node_store> store) {
  auto& st = self->state;
  st.port = std::make_unique<actor_port>(self, std::move(services), std::move(store));
  st.core = std::make_unique<runtime::bus_core>(std::move(setup), *st.port);
  return {
      [=](protocol::init_atom, protocol::endpoint_ref ref) {
        auto& st = self->state;
        st.port->endpoint = ref.ep;
        st.core->start();
        for (auto& f : st.waiting)
          f();
        st.waiting.clear();
        self->send(self, protocol::tick_atom::value);
      },
      [=](protocol::events_atom, protocol::inbound_events& evs) {
        if (!ready(self))
          return later(self, [=, evs = std::move(evs)] { self->state.core->on_events(evs.items); });
        self->state.core->on_events(evs.items);
      },
      // The bus delivers nothing and writes nothing before it starts, so
      // these come only after; were one to come before, it waits its turn.
      [=](protocol::answers_atom, protocol::answer_batch& batch) {
        if (!ready(self))
          return later(self, [=, batch = std::move(batch)]() mutable { self->state.core->on_answers(batch.items); });
        self->state.core->on_answers(batch.items);
      },
      [=](protocol::crashed_atom, const std::string& service) {
        if (!ready(self))
          return later(self, [=] { self->state.core->on_crashed(service); });
        self->state.core->on_crashed(service);
      },
      [=](protocol::retry_atom, runtime::delivery& d) {
        if (!ready(self))
          return later(self, [=] { self->state.core->on_retry_due(d); });
        self->state.core->on_retry_due(std::move(d));
      },
      [=](protocol::resume_atom, protocol::continuation& c) {
        if (!ready(self))
          return later(self, [=] { c.fn(*self->state.core); });
        c.fn(*self->state.core);
      },
      [=](protocol::request_atom, const protocol::control_call& call) {
        if (!ready(self))
          return later(self, [=] { self->state.core->on_request(call.identity, call.body); });
        self->state.core->on_request(call.identity, call.body);
      },
      [=](protocol::peer_atom, const protocol::peer_message& m) {
        if (!ready(self))
          return later(self, [=] { self->state.core->on_peer(m.node, m.body); });
        self->state.core->on_peer(m.node, m.body);
      },
      [=](protocol::beat_atom, const std::string& body) {
        if (!ready(self))
          return later(self, [=] { self->state.core->on_heartbeat(body); });
        self->state.core->on_heartbeat(body);
      },
      [=](protocol::tick_atom) {
        self->state.core->on_tick();
        self->delayed_send(self, tick_interval, protocol::tick_atom::value);
      },
  };
}

}  // namespace

protocol::bus_actor spawn_bus(caf::actor_system& sys, runtime::bus_setup setup,
                              std::map<std::string, protocol::service_host_actor> services,
                              std::shared_ptr<store::node_store> store) {
  return sys.spawn(bus_behavior, std::move(setup), std::move(services), std::move(store));
}

}  // namespace troupe
