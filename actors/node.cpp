#include "actors/node.hpp"

#include <csignal>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "rules/matcher.hpp"
#include "wire/control.hpp"
#include "wire/endpoint.hpp"

namespace troupe {

using event_ptr = std::shared_ptr<const wire::envelope>;

/// Events a service emitted while handling `cause`.
struct emission {
  event_ptr cause;
  std::string service;
  std::vector<event_out> events;
};

/// A control request and the identity to answer.
struct control_call {
  std::string identity;
  std::string body;
};

/// Hands the bus the endpoint it publishes to, once that is running.
struct endpoint_ref {
  wire::endpoint* ep;
};

} // namespace troupe

// These never leave the process (CAF's own network layer is not used), so
// they need no serialization.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::event_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::emission)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::control_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::endpoint_ref)

namespace troupe {

namespace {

using event_atom = caf::atom_constant<caf::atom("event")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using emit_atom = caf::atom_constant<caf::atom("emit")>;
using control_atom = caf::atom_constant<caf::atom("control")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using init_atom = caf::atom_constant<caf::atom("init")>;

constexpr auto query_timeout = std::chrono::seconds(10);

// -- service actor -------------------------------------------------------------

struct service_counters {
  std::uint64_t delivered = 0, ok = 0, transient = 0, permanent = 0, crashed = 0;
};

struct service_state {
  static inline const char* name = "service";
  std::string service_name;
  std::unique_ptr<service> impl;
  std::shared_ptr<spdlog::logger> log;
  service_counters counters;
};

handled invoke(service& impl, const wire::envelope& ev) {
  nlohmann::json detail;
  try {
    detail = nlohmann::json::from_msgpack(ev.detail);
  } catch (const std::exception& e) {
    return handled::permanent(std::string("detail: not decodable: ") + e.what());
  }
  return impl.handle(event_in{ev, detail});
}

caf::behavior service_actor(caf::stateful_actor<service_state>* self, std::string name,
                            std::shared_ptr<service> impl_shared, std::shared_ptr<spdlog::logger> log) {
  self->state.service_name = name;
  self->state.log = log;
  return {
      [=](deliver_atom, const event_ptr& ev, const std::string& rule) {
        auto& st = self->state;
        ++st.counters.delivered;
        handled h;
        try {
          h = invoke(*impl_shared, *ev);
        } catch (const std::exception& e) {
          // Supervised restarts arrive with the retry issue; until then a
          // throwing handler is reported and the actor keeps serving.
          ++st.counters.crashed;
          st.log->error("[service={} rule={} corr={} event={}] handler crashed: {}", st.service_name, rule,
                        ev->correlation_id, ev->id, e.what());
          return;
        }
        switch (h.status) {
          case outcome::ok:
            ++st.counters.ok;
            // The bus delivered it; the emitted events go back to the bus.
            if (!h.emitted.empty())
              self->send(caf::actor_cast<caf::actor>(self->current_sender()), emit_atom::value,
                         emission{ev, st.service_name, std::move(h.emitted)});
            break;
          case outcome::transient:
            ++st.counters.transient;
            st.log->warn("[service={} rule={} corr={} event={}] transient failure: {}", st.service_name, rule,
                         ev->correlation_id, ev->id, h.error);
            break;
          case outcome::permanent:
            ++st.counters.permanent;
            st.log->warn("[service={} rule={} corr={} event={}] permanent failure: {}", st.service_name, rule,
                         ev->correlation_id, ev->id, h.error);
            break;
        }
      },
      [=](query_atom, const std::string& what, const std::string& args) -> std::string {
        nlohmann::json a = nlohmann::json::parse(args, nullptr, false);
        if (a.is_discarded())
          a = nlohmann::json::object();
        try {
          auto rows = impl_shared->query(what, a);
          return rows.dump();
        } catch (const std::exception& e) {
          return nlohmann::json{{"error", e.what()}}.dump();
        }
      },
      [=](stats_atom) -> std::string {
        const auto& c = self->state.counters;
        return nlohmann::json{{"delivered", c.delivered}, {"ok", c.ok},           {"transient", c.transient},
                              {"permanent", c.permanent}, {"crashed", c.crashed}}
            .dump();
      },
  };
}

// -- bus actor -----------------------------------------------------------------

struct bus_counters {
  std::uint64_t from_wire = 0, emitted = 0, put = 0, matched = 0, unmatched = 0, deliveries = 0;
};

struct bus_state {
  static inline const char* name = "bus";
  std::string node;
  std::uint64_t epoch = 0;
  std::unordered_map<std::string, std::uint64_t> seq;  // per stream (detail-type)
  std::shared_ptr<const rules::matcher> matcher;
  std::vector<std::string> rule_targets;               // per rule index: service name
  std::unordered_map<std::string, caf::actor> services;
  wire::endpoint* endpoint = nullptr;
  std::shared_ptr<spdlog::logger> log;
  std::vector<std::size_t> scratch;
  bus_counters counters;
};

using bus_actor = caf::stateful_actor<bus_state>;

void route(bus_actor* self, const event_ptr& ev) {
  auto& st = self->state;
  rules::event_view view;
  view.id = ev->id;
  view.source = ev->source;
  view.detail_type = ev->detail_type;
  view.time_ms = ev->time_ms;
  view.resources = &ev->resources;
  view.detail = ev->detail;
  st.scratch.clear();
  st.matcher->match(view, st.scratch);
  bool local = false;
  for (auto i : st.scratch) {
    auto it = st.services.find(st.rule_targets[i]);
    if (it == st.services.end())
      continue;  // the target runs on another node, which sees the event itself
    local = true;
    ++st.counters.deliveries;
    self->send(it->second, deliver_atom::value, ev, st.matcher->name(i));
  }
  ++(local ? st.counters.matched : st.counters.unmatched);
}

// Gives a new event its place in this node's stream, publishes it, and
// routes it to local targets.
std::string originate(bus_actor* self, std::string source, std::string detail_type, std::string detail,
                      std::string correlation_id, std::string causation_id, std::vector<std::string> resources) {
  auto& st = self->state;
  auto ev = std::make_shared<wire::envelope>();
  ev->id = wire::make_uuid();
  ev->source = std::move(source);
  ev->detail_type = std::move(detail_type);
  ev->time_ms = wire::now_ms();
  ev->resources = std::move(resources);
  ev->origin = st.node;
  ev->epoch = st.epoch;
  ev->seq = ++st.seq[ev->detail_type];
  // An event without a correlation id starts a saga: it is its own.
  ev->correlation_id = correlation_id.empty() ? ev->id : std::move(correlation_id);
  ev->causation_id = std::move(causation_id);
  ev->detail = std::move(detail);
  std::string bytes;
  if (auto r = wire::encode(*ev, bytes); !r) {
    st.log->error("[corr={}] cannot encode {}: {}", ev->correlation_id, ev->detail_type, r.err().to_string());
    return {};
  }
  st.endpoint->publish(wire::topic_of(ev->detail_type), std::move(bytes));
  route(self, ev);
  return ev->id;
}

void answer(bus_actor* self, const std::string& identity, const std::string& verb, bool ok, std::string body) {
  wire::control_reply rep;
  rep.ok = ok;
  rep.body = std::move(body);
  self->state.endpoint->reply(identity, wire::encode_reply(rep, verb));
}

void control(bus_actor* self, const control_call& call) {
  auto& st = self->state;
  auto req = wire::decode_request(call.body);
  if (!req) {
    answer(self, call.identity, "", false, req.err().to_string());
    return;
  }
  if (req->verb == "put") {
    wire::control_reply rep;
    rep.ok = true;
    for (auto& e : req->entries) {
      if (e.source.empty() || e.detail_type.empty()) {
        rep.results.push_back({"", "InvalidArgument: source and detail-type are required"});
        continue;
      }
      ++st.counters.put;
      auto id = originate(self, std::move(e.source), std::move(e.detail_type), std::move(e.detail),
                          std::move(e.correlation_id), "", std::move(e.resources));
      rep.results.push_back(id.empty() ? wire::put_result{"", "InternalFailure"} : wire::put_result{id, ""});
    }
    st.endpoint->reply(call.identity, wire::encode_reply(rep, "put"));
  } else if (req->verb == "query") {
    auto it = st.services.find(req->service);
    if (it == st.services.end()) {
      answer(self, call.identity, "query", false, "no service '" + req->service + "' on node " + st.node);
      return;
    }
    auto identity = call.identity;
    self->request(it->second, query_timeout, query_atom::value, req->what, req->args)
        .then([=](const std::string& rows) { answer(self, identity, "query", true, rows); },
              [=](caf::error& err) {
                answer(self, identity, "query", false, "query failed: " + self->system().render(err));
              });
  } else if (req->verb == "status") {
    // Collect every service's counters, then answer once.
    auto identity = call.identity;
    const auto& ws = st.endpoint->stats();
    auto status = std::make_shared<nlohmann::json>(nlohmann::json{
        {"node", st.node},
        {"epoch", st.epoch},
        {"wire",
         {{"received", ws.received.load()},
          {"malformed", ws.malformed.load()},
          {"published", ws.published.load()},
          {"requests", ws.requests.load()},
          {"bad_requests", ws.bad_requests.load()},
          {"peers_connected", ws.peers_connected.load()}}},
        {"bus",
         {{"from_wire", st.counters.from_wire},
          {"emitted", st.counters.emitted},
          {"put", st.counters.put},
          {"matched", st.counters.matched},
          {"unmatched", st.counters.unmatched},
          {"deliveries", st.counters.deliveries}}},
        {"services", nlohmann::json::object()}});
    auto pending = std::make_shared<std::size_t>(st.services.size());
    if (*pending == 0) {
      answer(self, identity, "status", true, status->dump());
      return;
    }
    for (const auto& [name, actor] : st.services) {
      auto svc = name;
      auto done = [=] {
        if (--*pending == 0)
          answer(self, identity, "status", true, status->dump());
      };
      self->request(actor, query_timeout, stats_atom::value)
          .then(
              [=](const std::string& s) {
                (*status)["services"][svc] = nlohmann::json::parse(s, nullptr, false);
                done();
              },
              [=](caf::error&) {
                (*status)["services"][svc] = nullptr;
                done();
              });
    }
  }
}

caf::behavior running_bus(bus_actor* self) {
  return {
      [=](event_atom, const event_ptr& ev) {
        ++self->state.counters.from_wire;
        route(self, ev);
      },
      [=](emit_atom, const emission& em) {
        auto& st = self->state;
        for (const auto& out : em.events) {
          std::string detail;
          try {
            nlohmann::json::to_msgpack(out.detail, detail);
          } catch (const std::exception& e) {
            st.log->error("[service={} corr={}] cannot encode {}: {}", em.service, em.cause->correlation_id,
                          out.detail_type, e.what());
            continue;
          }
          if (!out.detail.is_object()) {
            st.log->error("[service={} corr={}] {} detail is not an object", em.service,
                          em.cause->correlation_id, out.detail_type);
            continue;
          }
          ++st.counters.emitted;
          originate(self, "troupe." + em.service, out.detail_type, std::move(detail),
                    out.correlation_id.empty() ? em.cause->correlation_id : out.correlation_id, em.cause->id, {});
        }
      },
      [=](control_atom, const control_call& call) { control(self, call); },
  };
}

/// The bus: waits for its endpoint, keeping whatever arrives meanwhile in
/// its mailbox, then routes.
///
///   awaiting-endpoint ──(init, endpoint)──▶ running
caf::behavior bus(bus_actor* self, bus_state init) {
  self->state = std::move(init);
  self->set_default_handler(caf::skip);
  return {
      [=](init_atom, endpoint_ref ref) {
        self->state.endpoint = ref.ep;
        self->set_default_handler(caf::drop);
        self->become(running_bus(self));
      },
  };
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& node) {
  auto log = spdlog::stdout_logger_mt("node." + node);
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [node=" + node + "] %v");
  log->flush_on(spdlog::level::info);
  return log;
}

} // namespace

int run_node(const cluster::config& cfg, const std::string& name, const service_registry& registry) {
  const auto* spec = cfg.find_node(name);
  if (!spec) {
    std::fprintf(stderr, "troupe: no node '%s' in %s\n", name.c_str(), cfg.file.c_str());
    return 2;
  }
  auto log = make_logger(name);
  spdlog::set_default_logger(log);

  // Stop signals are taken by sigwait below, never by a handler running
  // on some thread: block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::error_code ec;
  std::filesystem::create_directories(spec->data_dir, ec);
  if (ec) {
    log->error("cannot create data directory {}: {}", spec->data_dir.string(), ec.message());
    return 1;
  }

  // Services.
  std::vector<std::pair<std::string, std::shared_ptr<service>>> services;
  for (const auto& sname : spec->services) {
    cluster::diagnostics diag(cfg.file);
    service_context ctx{name, spec->data_dir, cfg.dir};
    const auto* factory = registry.find(sname);
    std::unique_ptr<service> s = factory ? (*factory)(cfg.settings_of(sname), ctx, diag) : nullptr;
    if (!s) {
      log->error("cannot create service {}: {}", sname, diag.to_string());
      return 2;
    }
    try {
      s->start();
    } catch (const std::exception& e) {
      log->error("service {} failed to start: {}", sname, e.what());
      return 1;
    }
    services.emplace_back(sname, std::move(s));
  }

  // Rules: all of them compile into the one matcher; only those targeting
  // a local service are routed here, and they decide the subscriptions.
  auto matcher = std::make_shared<rules::matcher>();
  std::vector<std::string> rule_targets;
  std::set<std::string> topics;
  bool everything = false;
  for (const auto& r : cfg.rules) {
    auto added = matcher->add(r.name, r.pattern_json);
    if (std::holds_alternative<rules::pattern_error>(added)) {
      log->error("rule {}: {}", r.name, std::get<rules::pattern_error>(added).to_string());
      return 2;
    }
    const auto index = std::get<std::size_t>(added);
    rule_targets.push_back(r.target);
    if (std::find(spec->services.begin(), spec->services.end(), r.target) == spec->services.end())
      continue;
    if (auto pinned = matcher->pinned_values(index, "detail-type"))
      for (const auto& t : *pinned)
        topics.insert(wire::topic_of(t));
    else
      everything = true;
  }
  matcher->compile();

  wire::endpoint_options opts;
  opts.node = name;
  opts.pub_bind = spec->pub;
  opts.control_bind = spec->control;
  for (const auto& n : cfg.nodes)
    if (n.name != name)
      opts.peers.push_back(n.pub);
  if (everything)
    opts.topics = {""};
  else
    opts.topics.assign(topics.begin(), topics.end());

  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", 2);
  sys_cfg.set("logger.file-verbosity", caf::atom("quiet"));
  sys_cfg.set("logger.console-verbosity", caf::atom("quiet"));
  caf::actor_system sys{sys_cfg};

  std::unordered_map<std::string, caf::actor> actors;
  for (auto& [sname, impl] : services)
    actors[sname] = sys.spawn(service_actor, sname, impl, log);
  bus_state init;
  init.node = name;
  // The epoch tells this incarnation's streams from the last one's.
  init.epoch = static_cast<std::uint64_t>(wire::now_ms());
  init.matcher = matcher;
  init.rule_targets = rule_targets;
  init.services = actors;
  init.log = log;
  const auto epoch = init.epoch;
  auto bus_handle = sys.spawn(bus, std::move(init));

  wire::endpoint_handlers handlers;
  handlers.on_event = [bus_handle](wire::envelope e) {
    caf::anon_send(bus_handle, event_atom::value, event_ptr(std::make_shared<wire::envelope>(std::move(e))));
  };
  handlers.on_request = [bus_handle](std::string identity, std::string body) {
    caf::anon_send(bus_handle, control_atom::value, control_call{std::move(identity), std::move(body)});
  };
  handlers.log = [log](int level, const std::string& line) {
    log->log(level == 0 ? spdlog::level::info : level == 1 ? spdlog::level::warn : spdlog::level::err, line);
  };
  auto ep = wire::endpoint::start(opts, handlers);
  if (!ep) {
    log->error("{}", ep.err().message);
    for (auto& [_, a] : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(bus_handle, caf::exit_reason::user_shutdown);
    return 1;
  }

  caf::anon_send(bus_handle, init_atom::value, endpoint_ref{ep->get()});

  std::string sub_list;
  for (const auto& t : opts.topics)
    sub_list += (sub_list.empty() ? "" : ",") + (t.empty() ? std::string("*") : t.substr(0, t.size() - 1));
  log->info("ready: services [{}], pub {}, control {}, {} peers, subscribed to {}, epoch {}",
            [&] {
              std::string s;
              for (const auto& x : spec->services)
                s += (s.empty() ? "" : ",") + x;
              return s;
            }(),
            spec->pub, spec->control, opts.peers.size(), sub_list, epoch);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log->info("stopping on {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*ep)->stop();
  for (auto& [_, a] : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(bus_handle, caf::exit_reason::user_shutdown);
  return 0;
}

} // namespace troupe
