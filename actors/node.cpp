#include "actors/node.hpp"

#include <sys/resource.h>

#include <csignal>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include <caf/all.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/dead_letter.hpp"
#include "actors/event_view.hpp"
#include "actors/faults.hpp"
#include "actors/msgpack_json.hpp"
#include "rules/matcher.hpp"
#include "store/node_store.hpp"
#include "wire/stream.hpp"
#include "wire/control.hpp"
#include "wire/endpoint.hpp"
#include "wire/log_limit.hpp"

namespace troupe {

using event_ptr = std::shared_ptr<const wire::envelope>;

struct held_event;

/// One event for one local target. Either it sits in the inbox
/// (`inbox_id`), or it came from a peer's stream and is held in memory
/// (`hold`) until its effects commit together with the stream's cursor.
struct delivery {
  std::int64_t inbox_id = 0;
  std::string target;
  std::string rule;
  event_ptr ev;
  std::shared_ptr<held_event> hold;
  store::retry_state retry;     // attempt, when due, first tried, where its age starts
  // Set when handed to the service: it must start by `deadline` and run
  // for at most `timeout` (the rule's handler timeout). Monotonic time.
  std::chrono::steady_clock::time_point deadline{};
  std::chrono::milliseconds timeout{0};
};

/// What a service did with a delivery.
struct emission {
  delivery d;
  outcome status = outcome::ok;
  std::string error_code;  // when not ok: TIMEOUT, HANDLER_ERROR, PERMANENT_ERROR, CRASH, ...
  std::string error;
  std::int64_t at_ms = 0;  // when the attempt ended
  std::vector<event_out> events;
  std::vector<state_changes::change> changes;
  bool not_run = false;  // the service was down: retried without spending an attempt
  std::string dead_letter_queue;  // where its dead letter goes; empty: its rule's DLQ
};

/// A service's rows, read back to rebuild it after a crash.
struct state_rows {
  std::vector<store::state_row> rows;
};

/// An event accepted from a peer's stream whose handling has not committed
/// yet. Nothing of it is on disk: the stream's durable cursor stays below
/// it, so a crash before the commit has the origin replay it (it keeps
/// every event until acked, and acks follow the cursor). Its services'
/// answers wait here until every event before it in its stream is done,
/// then commit with the cursor in one transaction.
struct held_event {
  std::pair<std::string, std::string> key;  // (origin, stream)
  std::uint64_t epoch = 0, seq = 0;
  std::size_t remaining = 0;  // targets that have not answered
  std::vector<emission> answers;
};

/// Deliveries for one service, handed over together.
struct delivery_batch {
  std::vector<delivery> items;
};

/// A service's answers to one delivery_batch, in the same order.
struct emission_batch {
  std::vector<emission> items;
};

/// Events that arrived from the wire in one burst, in arrival order.
struct inbound_events {
  std::vector<event_ptr> items;
};

/// An inbound stream's position now durable in the inbox, so it may be acked.
struct accepted_mark {
  std::string origin, stream;
  std::uint64_t epoch = 0, seq = 0;
};

/// Work the bus does once a transaction committed.
struct after_commit {
  std::vector<std::pair<std::string, std::string>> frames;  // publish: topic, envelope
  std::vector<delivery> deliveries;                         // local targets
  std::string reply_to;                                     // control identity, for PutEvents
  std::string reply;
  std::vector<accepted_mark> accepted;
  // Deliveries that failed transiently, their retry now recorded in the
  // inbox (held ones get their row and id in the transaction): retried
  // when due.
  std::shared_ptr<std::vector<delivery>> parked, rescheduled;
  std::vector<std::string> idempotency_keys;  // now durable
};

/// A PutEvents call whose idempotency keys are being looked up in the store.
struct put_call {
  std::string identity;
  std::vector<wire::put_entry> entries;
  std::vector<wire::put_result> results;  // filled as entries are settled
  std::vector<bool> settled;
  std::vector<std::uint64_t> digests;
  std::vector<std::optional<store::idempotency_record>> found;  // per entry, from the store
};

/// A control request and the identity to answer.
struct control_call {
  std::string identity;
  std::string body;
};

/// A message a peer sent back on our DEALER to it.
struct peer_message {
  std::string node;
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
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::emission)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::delivery_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::emission_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::inbound_events)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::after_commit)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::control_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::peer_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::endpoint_ref)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::state_rows)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<troupe::put_call>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<troupe::store::expired_event>)

namespace troupe {

namespace {

using event_atom = caf::atom_constant<caf::atom("event")>;
using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using emit_atom = caf::atom_constant<caf::atom("emit")>;
using control_atom = caf::atom_constant<caf::atom("control")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using init_atom = caf::atom_constant<caf::atom("init")>;
using commit_atom = caf::atom_constant<caf::atom("committed")>;
using peer_atom = caf::atom_constant<caf::atom("peer")>;
using beat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using expired_atom = caf::atom_constant<caf::atom("expired")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using crashed_atom = caf::atom_constant<caf::atom("crashed")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using put_atom = caf::atom_constant<caf::atom("put")>;

constexpr auto query_timeout = std::chrono::seconds(10);
constexpr auto tick_interval = std::chrono::milliseconds(50);
constexpr int heartbeat_every_ticks = 10;  // 500 ms
constexpr int expire_every_ticks = 100;    // 5 s
constexpr std::uint32_t replay_batch_size = 2000;
constexpr std::int64_t replay_timeout_ms = 2000;

std::int64_t wall_now() { return wire::now_ms(); }

// -- service actor -------------------------------------------------------------

struct service_counters {
  std::uint64_t delivered = 0, ok = 0, transient = 0, permanent = 0, crashed = 0, timeouts = 0, restarts = 0;
};

/// Makes a service anew for a restart, from the one that crashed (fault
/// injection keeps its wrapper, so that its dice and clock go on).
using service_maker = std::function<std::shared_ptr<service>(std::shared_ptr<service> crashed)>;

/// A service actor is its own supervisor's child: a handler that throws or
/// overruns its timeout leaves the service's memory in doubt, so the actor
/// stops handling, and once the bus has committed every answer it gave
/// before, rebuilds the service from its stored state. More than
/// `max_restarts` restarts within `within` and the service is failed: it
/// handles nothing more, and status says so (OTP's restart intensity).
///
///   running ──(crash)──▶ restarting ──(restore)──▶ running
///                 └──(past the intensity)──▶ failed
enum class service_mode { running, restarting, failed };

struct service_state {
  static inline const char* name = "service";
  std::string service_name;
  std::shared_ptr<spdlog::logger> log;
  std::shared_ptr<service> impl;
  service_maker remake;
  cluster::supervision_spec intensity;
  service_mode mode = service_mode::running;
  std::deque<std::chrono::steady_clock::time_point> restarts;  // within the intensity window
  caf::actor bus;
  bool crash_untold = false;  // the bus hears of a crash after the answers before it
  service_counters counters;
};

using service_actor_t = caf::stateful_actor<service_state>;

handled invoke(service& impl, const wire::envelope& ev, state_changes& changes) {
  nlohmann::json detail;
  try {
    detail = json_from_msgpack(ev.detail);
  } catch (const std::exception& e) {
    return handled::permanent(std::string("detail: not decodable: ") + e.what());
  }
  return impl.handle(event_in{ev, detail, changes});
}

/// The service's memory is in doubt: stop handling and have the bus read
/// its state back once every earlier answer is committed; or, past the
/// restart intensity, fail it.
void crash(service_actor_t* self, const std::string& why) {
  auto& st = self->state;
  if (st.mode != service_mode::running)
    return;
  const auto now = std::chrono::steady_clock::now();
  while (!st.restarts.empty() && now - st.restarts.front() > st.intensity.within)
    st.restarts.pop_front();
  if (static_cast<int>(st.restarts.size()) >= st.intensity.max_restarts) {
    st.mode = service_mode::failed;
    st.log->critical("[service={}] failed: {} restarts within {} s is its limit; it handles nothing more "
                     "(its deliveries fail and go to their DLQ) until the node restarts. Last crash: {}",
                     st.service_name, st.intensity.max_restarts, st.intensity.within.count() / 1000.0, why);
    return;
  }
  st.restarts.push_back(now);
  st.mode = service_mode::restarting;
  st.crash_untold = true;
  st.log->error("[service={}] crashed ({}); restarting it from its stored state", st.service_name, why);
}

/// Sends the bus `out`, then news of a crash: the bus must have every
/// answer given before the crash when it hears of it, since it rebuilds the
/// service once those have committed.
void answer_bus(service_actor_t* self, emission_batch&& out) {
  auto& st = self->state;
  if (!out.items.empty())
    self->send(st.bus, emit_atom::value, std::move(out));
  if (st.crash_untold) {
    st.crash_untold = false;
    self->send(st.bus, crashed_atom::value, st.service_name);
  }
}

/// One delivery: the handler's outcome, its state changes and its events.
emission handle_one(service_actor_t* self, const delivery& d) {
  auto& st = self->state;
  ++st.counters.delivered;
  const auto& ev = *d.ev;
  emission em;
  em.d = d;
  const auto fail = [&](const char* code, std::string why) {
    em.status = outcome::transient;
    em.error_code = code;
    em.error = std::move(why);
  };
  const auto started = std::chrono::steady_clock::now();
  if (st.mode == service_mode::restarting) {
    fail(error_code::crash, "not run: the service is restarting after a crash");
    em.not_run = true;
  } else if (st.mode == service_mode::failed) {
    fail(error_code::service_failed, "not run: the service failed (past its restart intensity)");
  } else if (started > d.deadline) {
    ++st.counters.timeouts;
    fail(error_code::timeout, "not started within the handler timeout");
  } else {
    state_changes changes;
    try {
      auto h = invoke(*st.impl, ev, changes);
      em.status = h.status;
      em.error = std::move(h.error);
      em.events = std::move(h.emitted);
      em.error_code = h.status == outcome::permanent ? error_code::permanent_error : error_code::handler_error;
      if (std::chrono::steady_clock::now() - started > d.timeout) {
        // It ran longer than it may: its answer does not count, and what
        // it did to the service's memory will not commit. Rebuild it.
        ++st.counters.timeouts;
        em.events.clear();
        fail(error_code::timeout, "the handler overran its timeout; its result was dropped");
        crash(self, "handler overran its timeout");
      } else if (em.status == outcome::ok) {
        em.changes = changes.take();
      }
    } catch (const std::exception& e) {
      ++st.counters.crashed;
      fail(error_code::crash, std::string("handler threw: ") + e.what());
      crash(self, e.what());
    } catch (...) {
      ++st.counters.crashed;
      fail(error_code::crash, "handler threw something that is not a std::exception");
      crash(self, "a non-standard exception");
    }
  }
  em.at_ms = wall_now();
  switch (em.status) {
    case outcome::ok:
      ++st.counters.ok;
      em.error_code.clear();
      break;
    case outcome::transient:
      ++st.counters.transient;
      st.log->warn("[service={} rule={} corr={} event={} attempt={}] {}: {}", st.service_name, d.rule,
                   ev.correlation_id, ev.id, d.retry.attempt, em.error_code, em.error);
      break;
    case outcome::permanent:
      ++st.counters.permanent;
      st.log->warn("[service={} rule={} corr={} event={}] permanent failure: {}", st.service_name, d.rule,
                   ev.correlation_id, ev.id, em.error);
      break;
  }
  return em;
}

const char* to_string(service_mode m) {
  switch (m) {
    case service_mode::running: return "running";
    case service_mode::restarting: return "restarting";
    case service_mode::failed: return "failed";
  }
  return "?";
}

caf::behavior service_actor(service_actor_t* self, std::string name, std::shared_ptr<service> impl,
                            service_maker remake, cluster::supervision_spec intensity,
                            std::shared_ptr<spdlog::logger> log) {
  auto& st = self->state;
  st.service_name = std::move(name);
  st.log = std::move(log);
  st.impl = std::move(impl);
  st.remake = std::move(remake);
  st.intensity = intensity;
  return {
      [=](deliver_atom, const delivery_batch& batch) {
        auto& st = self->state;
        st.bus = caf::actor_cast<caf::actor>(self->current_sender());
        emission_batch out;
        out.items.reserve(batch.items.size());
        for (const auto& d : batch.items) {
          // A slow handler (injected) waits on a timer, not on the thread.
          const auto wait = st.mode == service_mode::running ? st.impl->delay_before(*d.ev)
                                                              : std::chrono::milliseconds(0);
          if (wait.count() > 0)
            self->delayed_send(self, wait, run_atom::value, d);
          else
            out.items.push_back(handle_one(self, d));
        }
        // The outcomes go back to the bus together.
        answer_bus(self, std::move(out));
      },
      [=](run_atom, const delivery& d) {
        emission_batch out;
        out.items.push_back(handle_one(self, d));
        answer_bus(self, std::move(out));
      },
      [=](restore_atom, const state_rows& rows) {
        auto& st = self->state;
        try {
          auto fresh = st.remake(st.impl);
          for (const auto& r : rows.rows)
            fresh->restore(r.table, r.key, nlohmann::json::parse(r.json, nullptr, false));
          fresh->start();
          st.impl = std::move(fresh);
          st.mode = service_mode::running;
          ++st.counters.restarts;
          st.log->warn("[service={}] restarted from {} stored rows", st.service_name, rows.rows.size());
        } catch (const std::exception& e) {
          st.mode = service_mode::failed;
          st.log->critical("[service={}] failed: cannot rebuild it from its stored state: {}", st.service_name,
                           e.what());
        }
      },
      [=](query_atom, const std::string& what, const std::string& args) -> std::string {
        nlohmann::json a = nlohmann::json::parse(args, nullptr, false);
        if (a.is_discarded())
          a = nlohmann::json::object();
        try {
          auto rows = self->state.impl->query(what, a);
          return rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        } catch (const std::exception& e) {
          return nlohmann::json{{"error", e.what()}}.dump();
        }
      },
      [=](stats_atom) -> std::string {
        const auto& c = self->state.counters;
        return nlohmann::json{{"state", to_string(self->state.mode)},
                              {"delivered", c.delivered},
                              {"ok", c.ok},
                              {"transient", c.transient},
                              {"permanent", c.permanent},
                              {"crashed", c.crashed},
                              {"timeouts", c.timeouts},
                              {"restarts", c.restarts}}
            .dump();
      },
  };
}

// -- bus actor -----------------------------------------------------------------

struct bus_counters {
  std::uint64_t from_wire = 0, emitted = 0, put = 0, matched = 0, unmatched = 0, deliveries = 0;
  std::uint64_t duplicates = 0, stale = 0, gaps = 0, replays_asked = 0, replays_served = 0, replayed_in = 0;
  std::uint64_t expired = 0, permanent_dropped = 0, deferred = 0, retries = 0, retries_exhausted = 0;
  std::uint64_t dead_lettered = 0, redriven = 0, redrives_refused = 0;
  std::uint64_t put_refused = 0, idempotent_repeats = 0, bad_acks = 0, undecodable = 0;
};

/// An idempotency key this node answered in this incarnation, until its
/// row is surely in the store (a lookup there then finds it).
struct idempotency_entry {
  std::string event_id;
  std::uint64_t digest = 0;
  std::int64_t since_ms = 0;
  bool durable = false;
};

using stream_key = std::pair<std::string, std::string>;  // (origin, stream)

/// Per rule and its target, with EventBridge's metric names and meanings:
/// Invocations counts deliveries that ended (succeeded, or failed for good),
/// InvocationAttempts every try, RetryInvocationAttempts the tries after the
/// first, FailedInvocations the deliveries that failed for good.
/// IngestiontoInvocationStartLatency: from the event's time to the first
/// attempt, in ms. InvocationsSentToDlq counts the dead letters committed
/// for the DLQ, InvocationsFailedToBeSentToDlq those that could not be.
struct target_metrics {
  const cluster::retry_policy* policy = nullptr;  // the rule's, found once
  std::uint64_t matched = 0, invocations = 0, attempts = 0, successful_attempts = 0, retry_attempts = 0,
                failed = 0, sent_to_dlq = 0, failed_to_dlq = 0;
  std::uint64_t latency_count = 0;
  std::int64_t latency_sum_ms = 0, latency_max_ms = 0;
};

/// Subscriber side, per (origin, stream).
struct inbound_stream {
  store::cursor accepted;           // last seq accepted into the inbox (may not be committed yet)
  store::cursor acked;              // last seq committed and acked
  std::uint64_t committed = 0;      // last seq committed, not yet acked
  std::int64_t replay_asked_ms = 0; // a replay request in flight since
  std::uint64_t seq_at_last_beat = UINT64_MAX;
};

/// Origin side, per own stream.
struct outbound_stream {
  std::uint64_t head = 0;     // last seq given out
  std::uint64_t pruned = 0;   // every seq up to here is gone from the outbox
  std::vector<std::string> consumers;  // peers that must ack it
  std::int64_t max_age_ms = 24LL * 3600 * 1000;  // kept at most this long for them
  std::uint64_t expired_upto = 0;  // expired events up to here are dropped or being dropped
};

struct bus_state {
  static inline const char* name = "bus";
  std::string node;
  const cluster::config* cfg = nullptr;  // outlives the actor system
  std::uint64_t epoch = 0;
  std::shared_ptr<const rules::matcher> matcher;
  std::vector<std::string> rule_targets;                // per rule index: service name
  std::unordered_map<std::string, caf::actor> services;
  std::set<std::string> consumed;                       // streams this node consumes
  bool consumes_everything = false;
  std::map<std::string, std::set<std::string>> peer_consumes;  // peer → streams ("" = everything)
  std::map<std::string, outbound_stream> out;
  std::map<stream_key, inbound_stream> in;
  std::map<stream_key, std::uint64_t> peer_acks;        // (peer, stream) → acked seq
  bool acks_dirty = false;
  std::vector<delivery> recovered;                      // inbox rows found at start
  std::map<stream_key, std::deque<std::shared_ptr<held_event>>> held;  // per inbound stream, in seq order
  std::size_t held_count = 0;
  std::unordered_map<std::string, const cluster::rule_spec*> rules;  // by name, into *cfg
  // The services that crashed: a crashed one is rebuilt from its state once
  // none of its successful answers is held waiting for its stream (all have
  // gone to the writer). Its answers while it is down are failures, with
  // nothing to wait for, so a steady flow of events cannot hold the rebuild
  // off. Crashes are rare: the held answers are searched then, not counted
  // on every event.
  std::set<std::string> restarting;
  // Per rule (a rule has one target); looked up on every delivery, so keyed
  // by the rule name alone: no pair of strings built per event.
  std::unordered_map<std::string, target_metrics> metrics;
  std::mt19937_64 rng{std::random_device{}()};
  std::shared_ptr<store::node_store> store;
  wire::endpoint* endpoint = nullptr;
  std::shared_ptr<spdlog::logger> log;
  std::vector<std::size_t> scratch;
  std::uint64_t ticks = 0;
  bool expire_soon = false;  // the last expiry found a full batch
  std::unordered_map<std::string, idempotency_entry> idempotency;
  std::int64_t idempotency_ttl_ms = 24LL * 3600 * 1000;  // the longest maximum event age
  wire::log_limit log_limit;  // for what peers can make happen at will
  bus_counters counters;
};

using bus_actor = caf::stateful_actor<bus_state>;


/// Local targets of `ev`: (service, rule) pairs.
std::vector<std::pair<std::string, std::string>> local_targets(bus_actor* self, const wire::envelope& ev) {
  auto& st = self->state;
  st.scratch.clear();
  st.matcher->match(view_of(ev), st.scratch);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto i : st.scratch)
    if (st.services.count(st.rule_targets[i])) {
      out.emplace_back(st.rule_targets[i], st.matcher->name(i));
      ++st.metrics[out.back().second].matched;
    }
  ++(out.empty() ? st.counters.unmatched : st.counters.matched);
  return out;
}

bool consumes(const bus_state& st, const std::string& stream) {
  return st.consumes_everything || st.consumed.count(stream);
}

std::vector<std::string> consumers_of(const bus_state& st, const std::string& stream) {
  std::vector<std::string> out;
  for (const auto& [peer, streams] : st.peer_consumes)
    if (streams.count("") || streams.count(stream))
      out.push_back(peer);
  return out;
}

/// The origin side of one of this node's streams, made on first use with
/// the peers that must ack it.
outbound_stream& out_stream(bus_state& st, const std::string& stream) {
  auto it = st.out.find(stream);
  if (it == st.out.end()) {
    it = st.out.emplace(stream, outbound_stream{}).first;
    it->second.consumers = consumers_of(st, stream);
    it->second.max_age_ms = st.cfg->event_age_of(stream).count();
  }
  return it->second;
}

/// The rule named `name`, or null when the config has none.
const cluster::rule_spec* rule_of(const bus_state& st, const std::string& name) {
  auto it = st.rules.find(name);
  return it == st.rules.end() ? nullptr : it->second;
}

const cluster::retry_policy& policy_of(const bus_state& st, const std::string& rule) {
  static const cluster::retry_policy fallback;
  const auto* r = rule_of(st, rule);
  return r ? r->retry : fallback;
}

/// Hands deliveries to their services: one message per service, however
/// many deliveries it gets. Each gets its deadline (the rule's handler
/// timeout) and, on its first attempt, that attempt's time.
void dispatch(bus_actor* self, const std::vector<delivery>& ds) {
  auto& st = self->state;
  if (ds.empty())
    return;
  std::map<std::string, delivery_batch> by_target;
  const auto now = wall_now();
  const auto steady = std::chrono::steady_clock::now();
  for (const auto& d : ds)
    if (st.services.count(d.target)) {
      auto& m = st.metrics[d.rule];
      ++m.attempts;
      auto& out = by_target[d.target].items;
      out.push_back(d);
      if (out.back().retry.first_ms == 0)
        out.back().retry.first_ms = now;
      if (!m.policy)
        m.policy = &policy_of(st, d.rule);
      out.back().timeout = m.policy->handler_timeout;
      out.back().deadline = steady + out.back().timeout;
      if (d.retry.attempt > 1) {
        ++m.retry_attempts;
      } else {
        // A redriven delivery's latency counts from its redrive.
        const auto born = d.retry.age_from_ms ? d.retry.age_from_ms : d.ev->time_ms;
        const auto latency = std::max<std::int64_t>(0, now - born);
        ++m.latency_count;
        m.latency_sum_ms += latency;
        m.latency_max_ms = std::max(m.latency_max_ms, latency);
      }
    }
  for (auto& [target, batch] : by_target) {
    st.counters.deliveries += batch.items.size();
    self->send(st.services.at(target), deliver_atom::value, std::move(batch));
  }
}

void ask_replay(bus_actor* self, const stream_key& key, inbound_stream& s, std::uint64_t epoch, std::uint64_t from) {
  const auto now = wall_now();
  if (s.replay_asked_ms && now - s.replay_asked_ms < replay_timeout_ms)
    return;
  s.replay_asked_ms = now;
  ++self->state.counters.replays_asked;
  self->state.endpoint->send_peer(key.first,
                                  wire::encode(wire::replay_request{self->state.node, key.second, epoch, from,
                                                                    replay_batch_size}));
}

const std::string redrive_source = std::string("troupe.") + cluster::dlq_service;
/// The source of the stand-in for an event that could not be decoded (it
/// carries only the event's place, and cannot be redriven).
const std::string undecodable_source = "troupe.undecodable";

/// What a DLQ's DeadLetterRedriven event asks: the original event again, to
/// its rule's target. `event` fails when the event cannot be read back.
struct redrive_order {
  std::string rule, target, letter_id;
  result<wire::envelope> event;
};

/// Reads a DeadLetterRedriven event; nothing when it is not one.
std::optional<redrive_order> read_redrive(const wire::envelope& ev) {
  if (ev.detail_type != cluster::redrive_type || ev.source != redrive_source)
    return std::nullopt;
  nlohmann::json detail;
  try {
    detail = json_from_msgpack(ev.detail);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!detail.is_object() || !detail["RULE_ARN"].is_string() || !detail["TARGET_ARN"].is_string())
    return std::nullopt;
  return redrive_order{detail["RULE_ARN"].get<std::string>(), detail["TARGET_ARN"].get<std::string>(),
                       detail.value("dead-letter-id", "?"),
                       detail.contains("event") ? event_from_json(detail["event"])
                                                : error{errc::invalid_field, "event: missing"}};
}

/// The delivery a DLQ's DeadLetterRedriven event asks of this node: the
/// original event, to its original rule's target, with a fresh retry
/// budget whose age counts from the redrive; appended to `out`. Nothing
/// when the target runs on another node. When its rule is gone or targets
/// another service, the letter goes back to the DLQ (REDRIVE_REFUSED) as
/// an answer of `h`, so it is not lost.
void redriven(bus_actor* self, const wire::envelope& ev, const std::shared_ptr<held_event>& h,
              std::vector<delivery>& out) {
  auto& st = self->state;
  auto order = read_redrive(ev);
  if (!order || !st.services.count(order->target))
    return;  // not a redrive, or its target runs elsewhere (it may have moved since it failed)
  const auto& [rule, target, letter_id, original] = *order;
  const auto* r = rule_of(st, rule);
  const bool placeholder = original && original->source == undecodable_source;
  if (!original || !r || r->target != target || placeholder) {
    ++st.counters.redrives_refused;
    const auto why = !original ? "its event is unreadable: " + original.err().message
                     : placeholder
                         ? std::string("its event could not be decoded when it arrived; only its place is known")
                         : "rule '" + rule + "' with target '" + target + "' no longer exists on this node";
    st.log->error("[corr={}] redrive of dead letter {} refused: {}", ev.correlation_id, letter_id, why);
    if (!original)
      return;  // nothing to send back that the DLQ could read
    emission em;
    em.d = delivery{0, target, rule, std::make_shared<wire::envelope>(*original), nullptr, {}};
    em.status = outcome::permanent;
    em.error_code = error_code::redrive_refused;
    em.error = "redrive refused: " + why;
    em.at_ms = wall_now();
    em.dead_letter_queue = cluster::dlq_service;
    h->answers.push_back(std::move(em));
    return;
  }
  ++st.counters.redriven;
  st.log->info("[rule={} corr={} event={}] redriven from the DLQ (dead letter {})", rule, ev.correlation_id,
               original->id, letter_id);
  delivery d{0, target, rule, std::make_shared<wire::envelope>(*original), h, {}};
  d.retry.age_from_ms = ev.time_ms;
  ++h->remaining;
  out.push_back(std::move(d));
}

/// Held events beyond which the gate takes no more: a service that stalls
/// holds back its streams' acks, and the origins keep the events, so the
/// gate leaves the rest to replay rather than let memory grow.
constexpr std::size_t max_held_events = 50000;

/// The subscriber's gate: takes the next event of its stream, drops what it
/// has already, and asks for what it missed. A taken event is held in
/// memory and its deliveries are appended to `out`.
void accept(bus_actor* self, const event_ptr& ev, std::vector<delivery>& out) {
  auto& st = self->state;
  const stream_key key{ev->origin, ev->detail_type};
  auto& s = st.in[key];
  if (ev->epoch < s.accepted.epoch) {
    ++st.counters.stale;  // an earlier incarnation of the origin
    return;
  }
  if (ev->epoch > s.accepted.epoch) {
    // A new incarnation (or the first we hear of): its stream starts at 1.
    s.accepted = store::cursor{ev->epoch, 0};
    s.committed = 0;
  }
  const auto expected = s.accepted.seq + 1;
  if (ev->seq < expected) {
    ++st.counters.duplicates;
    return;
  }
  if (ev->seq > expected) {
    ++st.counters.gaps;
    ask_replay(self, key, s, ev->epoch, expected);
    return;
  }
  if (st.held_count >= max_held_events) {
    ++st.counters.deferred;  // replayed once the services catch up
    return;
  }
  s.accepted.seq = ev->seq;
  auto h = std::make_shared<held_event>();
  h->key = key;
  h->epoch = ev->epoch;
  h->seq = ev->seq;
  for (auto& [target, rule] : local_targets(self, *ev)) {
    ++h->remaining;
    out.push_back(delivery{0, std::move(target), std::move(rule), ev, h, {}});
  }
  redriven(self, *ev, h, out);
  st.held[key].push_back(std::move(h));
  ++st.held_count;
}

/// What one transaction of the bus writes besides the events it originates.
struct bus_work {
  struct finished {
    std::int64_t inbox_id = 0;  // 0: a held delivery, not in the inbox
    std::string service;
    std::vector<state_changes::change> changes;
  };
  std::vector<std::shared_ptr<wire::envelope>> events;
  std::vector<finished> done;
  std::map<stream_key, store::cursor> cursors;
  std::vector<delivery> parked;       // held deliveries to retry: into the inbox
  std::vector<delivery> rescheduled;  // inbox deliveries to retry: their row updated
  bool empty() const {
    return events.empty() && done.empty() && cursors.empty() && parked.empty() && rescheduled.empty();
  }
};

std::shared_ptr<wire::envelope> new_event(std::string source, std::string detail_type, std::string detail,
                                          std::string correlation_id, std::string causation_id,
                                          std::vector<std::string> resources);

/// When the delivery `d`, which just failed on attempt `d.attempt`, is
/// tried again under its rule's policy; nullopt when the policy allows no
/// more (attempts or event age exhausted: `why` says which). A delivery
/// that was not run (`spent` false) is bound by the age alone.
std::optional<std::chrono::milliseconds> next_retry(bus_state& st, const delivery& d, std::string& why,
                                                    bool spent) {
  const auto& p = policy_of(st, d.rule);
  const auto retries_done = d.retry.attempt - 1;
  if (spent && retries_done >= p.maximum_retry_attempts) {
    why = "MaximumRetryAttempts";
    return std::nullopt;
  }
  const auto delay = cluster::full_jitter(p.backoff_base, p.backoff_cap, retries_done, st.rng);
  const auto born = d.retry.age_from_ms ? d.retry.age_from_ms : d.ev->time_ms;
  if (wall_now() + delay.count() - born > p.maximum_event_age.count()) {
    why = "MaximumEventAgeInSeconds";
    return std::nullopt;
  }
  return delay;
}

/// Sends `d` to its service again when it is due.
void retry_later(bus_actor* self, delivery d) {
  const auto wait = std::max<std::int64_t>(0, d.retry.due_ms - wall_now());
  self->delayed_send(self, std::chrono::milliseconds(wait), retry_atom::value, std::move(d));
}

/// A dead letter's detail: what an entry may hold besides its source,
/// detail-type and correlation-id (the original event and the attributes
/// must fit in one envelope).
constexpr std::size_t max_dead_letter_detail = wire::max_entry_bytes - wire::entry_time_bytes - 3 * wire::max_string_bytes;
constexpr std::size_t max_error_message = 4096;

/// The msgpack detail of `dl`'s DeadLetter event, within the limits every
/// event meets: its event's detail decoded to JSON, or, when that is too
/// large or too deep (JSON of MessagePack may be either), kept as its
/// bytes; nothing when even that does not fit.
std::optional<std::string> dead_letter_detail(const dead_letter& dl) {
  for (const bool raw : {false, true}) {
    std::string detail;
    nlohmann::json::to_msgpack(to_detail(dl, raw), detail);
    if (detail.size() <= max_dead_letter_detail && wire::check_detail(detail))
      return detail;
  }
  return std::nullopt;
}

/// The DeadLetter event for `d`, which failed for good, when its rule has a
/// DLQ; it commits with the delivery's completion, so the DLQ gets it
/// exactly when the delivery is given up. Without a DLQ the failure is only
/// counted and logged, as EventBridge drops it.
void dead_letter_out(bus_actor* self, const dead_letter& dl, bus_work& w) {
  auto& st = self->state;
  auto& m = st.metrics[dl.rule];
  const auto& ev = dl.event;
  st.log->error("[service={} rule={} corr={} event={}] failed for good after {} attempt(s): {} ({}){}", dl.target,
                dl.rule, ev.correlation_id, ev.id, dl.retry_attempts + 1, dl.error_code,
                dl.exhausted_retry_condition.empty() ? "not retried" : dl.exhausted_retry_condition,
                dl.dlq.empty() ? "; no DLQ, dropped" : "; to the DLQ");
  if (dl.dlq.empty())
    return;
  auto detail = dead_letter_detail(dl);
  if (!detail) {
    ++m.failed_to_dlq;
    st.log->error("[rule={} event={}] the dead letter is more than an event may hold; not sent to the DLQ", dl.rule,
                  ev.id);
    return;
  }
  ++m.sent_to_dlq;
  ++st.counters.dead_lettered;
  w.events.push_back(new_event(cluster::dead_letter_source, cluster::dead_letter_type, std::move(*detail),
                               ev.correlation_id, ev.id, {}));
}

/// The dead letter of an answer that failed for good.
dead_letter dead_letter_of(const bus_state& st, const emission& em, std::string exhausted) {
  const auto* rule = rule_of(st, em.d.rule);
  dead_letter dl;
  dl.dlq = !em.dead_letter_queue.empty() ? em.dead_letter_queue : rule ? rule->dead_letter_queue : "";
  dl.rule = em.d.rule;
  dl.target = em.d.target;
  dl.node = st.node;
  dl.error_code = em.error_code;
  dl.error_message = em.error.size() > max_error_message ? em.error.substr(0, max_error_message) + "..." : em.error;
  dl.exhausted_retry_condition = std::move(exhausted);
  dl.retry_attempts = em.d.retry.attempt - 1;
  dl.first_attempt_ms = em.d.retry.first_ms;
  dl.last_attempt_ms = em.at_ms;
  dl.event = *em.d.ev;
  return dl;
}

/// Folds one answer of a service into `w`: an ok brings its state changes
/// and events; a transient failure is retried as its rule's policy says;
/// a permanent one, or one out of retries, becomes a dead letter.
void resolve(bus_actor* self, emission& em, bus_work& w) {
  auto& st = self->state;
  if (em.status != outcome::ok) {
    std::string why;
    const auto delay = em.status == outcome::transient ? next_retry(st, em.d, why, !em.not_run) : std::nullopt;
    if (!delay) {
      auto& m = st.metrics[em.d.rule];
      ++m.invocations;
      ++m.failed;
      ++(em.status == outcome::permanent ? st.counters.permanent_dropped : st.counters.retries_exhausted);
      dead_letter_out(self, dead_letter_of(st, em, why), w);
      if (em.d.inbox_id)
        w.done.push_back({em.d.inbox_id, em.d.target, {}});
      return;
    }
    // The retry is recorded in the inbox (attempt, due time) before it is
    // scheduled: a node that dies meanwhile still retries it when due. A
    // delivery its restarting service never ran keeps its attempt.
    auto d = std::move(em.d);
    if (!em.not_run)
      ++d.retry.attempt;
    ++st.counters.retries;
    d.retry.due_ms = wall_now() + delay->count();
    d.hold = nullptr;
    if (d.inbox_id == 0)
      w.parked.push_back(std::move(d));  // a held event's: into the inbox, so that its stream moves on
    else
      w.rescheduled.push_back(std::move(d));
    return;
  }
  {
    auto& m = st.metrics[em.d.rule];
    ++m.invocations;
    ++m.successful_attempts;
  }
  for (auto& out : em.events) {
    if (!out.detail.is_object()) {
      st.log->error("[service={} corr={}] {} detail is not an object", em.d.target, em.d.ev->correlation_id,
                    out.detail_type);
      continue;
    }
    std::string detail;
    nlohmann::json::to_msgpack(out.detail, detail);
    ++st.counters.emitted;
    w.events.push_back(new_event("troupe." + em.d.target, out.detail_type, std::move(detail),
                                 out.correlation_id.empty() ? em.d.ev->correlation_id : out.correlation_id,
                                 em.d.ev->id, {}));
  }
  if (em.d.inbox_id || !em.changes.empty())
    w.done.push_back({em.d.inbox_id, em.d.target, std::move(em.changes)});
}

/// Moves the events at the front of `key`'s held queue that every target
/// answered into `w`, with the stream's cursor.
void release(bus_actor* self, const stream_key& key, bus_work& w) {
  auto& st = self->state;
  auto it = st.held.find(key);
  if (it == st.held.end())
    return;
  auto& q = it->second;
  while (!q.empty() && q.front()->remaining == 0) {
    auto h = std::move(q.front());
    q.pop_front();
    --st.held_count;
    for (auto& em : h->answers)
      resolve(self, em, w);
    w.cursors[key] = store::cursor{h->epoch, h->seq};
  }
  if (q.empty())
    st.held.erase(it);
}

void originate(bus_actor* self, std::vector<std::shared_ptr<wire::envelope>> events,
               std::function<result<void>(store::txn&)> extra, after_commit ac);

/// Commits `w` in one transaction: the events it originates, the inbox
/// rows done, the services' state, the cursors of released streams and
/// the parked deliveries.
void commit(bus_actor* self, bus_work&& w) {
  if (w.empty())
    return;
  after_commit ac;
  for (const auto& [key, cur] : w.cursors)
    ac.accepted.push_back({key.first, key.second, cur.epoch, cur.seq});
  auto parked = std::make_shared<std::vector<delivery>>(std::move(w.parked));
  auto rescheduled = std::make_shared<std::vector<delivery>>(std::move(w.rescheduled));
  if (!parked->empty())
    ac.parked = parked;
  if (!rescheduled->empty())
    ac.rescheduled = rescheduled;
  auto done = std::make_shared<std::vector<bus_work::finished>>(std::move(w.done));
  auto cursors = std::make_shared<std::map<stream_key, store::cursor>>(std::move(w.cursors));
  originate(self, std::move(w.events),
            [=](store::txn& t) -> result<void> {
              for (const auto& f : *done) {
                if (f.inbox_id)
                  if (auto r = t.inbox_done(f.inbox_id); !r)
                    return r;
                for (const auto& c : f.changes) {
                  // A service may keep strings from untrusted input, which
                  // need not be UTF-8: replaced, not thrown on.
                  auto r = c.value ? t.state_put(f.service, c.table, c.key,
                                                 c.value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                                   : t.state_erase(f.service, c.table, c.key);
                  if (!r)
                    return r;
                }
              }
              for (auto& d : *parked) {
                std::string bytes;
                if (auto r = wire::encode(*d.ev, bytes); !r)
                  return r;
                auto id = t.inbox_add(d.target, d.rule, bytes, d.retry);
                if (!id)
                  return id.err();
                d.inbox_id = *id;
              }
              for (const auto& d : *rescheduled)
                if (auto r = t.inbox_retry(d.inbox_id, d.retry); !r)
                  return r;
              for (const auto& [key, cur] : *cursors)
                if (auto r = t.cursor_set(key.first, key.second, cur); !r)
                  return r;
              return {};
            },
            std::move(ac));
}

/// Events from a peer, in arrival order (one burst, or a replay batch):
/// through the gate, to their services; streams whose events have no local
/// target move their cursor at once.
void take_events(bus_actor* self, const std::vector<event_ptr>& events) {
  std::vector<delivery> out;
  std::set<stream_key> touched;
  for (const auto& ev : events) {
    const auto before = out.size();
    const auto held = self->state.held_count;
    accept(self, ev, out);
    if (self->state.held_count != held && out.size() == before)
      touched.insert({ev->origin, ev->detail_type});
  }
  bus_work w;
  for (const auto& key : touched)
    release(self, key, w);
  commit(self, std::move(w));
  dispatch(self, out);
}

/// Gives new events their place in this node's streams and writes them, the
/// local deliveries they cause, and `extra` in one transaction.
void originate(bus_actor* self, std::vector<std::shared_ptr<wire::envelope>> events,
               std::function<result<void>(store::txn&)> extra, after_commit ac) {
  auto& st = self->state;
  struct staged {
    std::string stream;
    std::uint64_t seq;
    std::int64_t time_ms;
    std::string bytes;
    bool keep;  // some peer must ack it
    std::vector<std::pair<std::string, std::string>> targets;
    event_ptr ev;
  };
  auto work = std::make_shared<std::vector<staged>>();
  for (auto& ev : events) {
    auto& os = out_stream(st, ev->detail_type);
    ev->origin = st.node;
    ev->epoch = st.epoch;
    ev->seq = ++os.head;
    staged sg{ev->detail_type, ev->seq, ev->time_ms, {}, !os.consumers.empty(), {}, ev};
    if (auto r = wire::encode(*ev, sg.bytes); !r) {
      st.log->error("[corr={}] cannot encode {}: {}", ev->correlation_id, ev->detail_type, r.err().to_string());
      --os.head;
      continue;
    }
    sg.targets = local_targets(self, *ev);
    work->push_back(std::move(sg));
  }
  auto ids = std::make_shared<std::vector<std::vector<std::int64_t>>>(work->size());
  auto bus = caf::actor_cast<caf::actor>(self);
  st.store->submit(
      [=](store::txn& t) -> result<void> {
        if (extra)
          if (auto r = extra(t); !r)
            return r;
        std::map<std::string, std::uint64_t> heads;
        for (std::size_t i = 0; i < work->size(); ++i) {
          const auto& sg = (*work)[i];
          if (sg.keep)
            if (auto r = t.outbox_append(sg.stream, sg.seq, sg.time_ms, sg.bytes); !r)
              return r;
          auto& h = heads[sg.stream];
          h = std::max(h, sg.seq);
          for (const auto& [target, rule] : sg.targets) {
            auto id = t.inbox_add(target, rule, sg.bytes);
            if (!id)
              return id.err();
            (*ids)[i].push_back(*id);
          }
        }
        for (const auto& [stream, head] : heads)
          if (auto r = t.stream_head(stream, head); !r)
            return r;
        return {};
      },
      [=]() mutable {
        for (std::size_t i = 0; i < work->size(); ++i) {
          auto& sg = (*work)[i];
          ac.frames.emplace_back(wire::topic_of(sg.stream), std::move(sg.bytes));
          for (std::size_t k = 0; k < sg.targets.size(); ++k)
            ac.deliveries.push_back(
                delivery{(*ids)[i][k], sg.targets[k].first, sg.targets[k].second, sg.ev, nullptr, {}});
        }
        caf::anon_send(bus, commit_atom::value, std::move(ac));
      });
}

std::shared_ptr<wire::envelope> new_event(std::string source, std::string detail_type, std::string detail,
                                          std::string correlation_id, std::string causation_id,
                                          std::vector<std::string> resources) {
  auto ev = std::make_shared<wire::envelope>();
  ev->id = wire::make_uuid();
  ev->source = std::move(source);
  ev->detail_type = std::move(detail_type);
  ev->time_ms = wire::now_ms();
  ev->resources = std::move(resources);
  // An event without a correlation id starts a saga: it is its own.
  ev->correlation_id = correlation_id.empty() ? ev->id : std::move(correlation_id);
  ev->causation_id = std::move(causation_id);
  ev->detail = std::move(detail);
  return ev;
}

void answer(bus_actor* self, const std::string& identity, const std::string& verb, bool ok, std::string body) {
  wire::control_reply rep;
  rep.ok = ok;
  rep.body = std::move(body);
  self->state.endpoint->reply(identity, wire::encode_reply(rep, verb));
}

long peak_rss_kib() {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_maxrss : -1;  // Linux: kilobytes
}

nlohmann::json bus_status(const bus_state& st) {
  const auto& ws = st.endpoint->stats();
  const auto& c = st.counters;
  std::uint64_t lag = 0;
  for (const auto& [key, s] : st.in)
    lag += s.accepted.seq - std::min(s.accepted.seq, s.acked.seq);
  return nlohmann::json{
      {"node", st.node},
      {"epoch", st.epoch},
      {"wire",
       {{"received", ws.received.load()},
        {"malformed", ws.malformed.load()},
        {"published", ws.published.load()},
        {"requests", ws.requests.load()},
        {"bad_requests", ws.bad_requests.load()},
        {"peers_connected", ws.peers_connected.load()},
        {"reconnects", ws.reconnects.load()}}},
      {"bus",
       {{"from_wire", c.from_wire},
        {"emitted", c.emitted},
        {"put", c.put},
        {"matched", c.matched},
        {"unmatched", c.unmatched},
        {"deliveries", c.deliveries},
        {"duplicates", c.duplicates},
        {"stale", c.stale},
        {"gaps", c.gaps},
        {"replays_asked", c.replays_asked},
        {"replays_served", c.replays_served},
        {"replayed_in", c.replayed_in},
        {"expired", c.expired},
        {"permanent_dropped", c.permanent_dropped},
        {"deferred", c.deferred},
        {"retries", c.retries},
        {"retries_exhausted", c.retries_exhausted},
        {"dead_lettered", c.dead_lettered},
        {"redriven", c.redriven},
        {"redrives_refused", c.redrives_refused},
        {"put_refused", c.put_refused},
        {"idempotent_repeats", c.idempotent_repeats},
        {"bad_acks", c.bad_acks},
        {"undecodable", c.undecodable},
        {"held", st.held_count},
        {"unacked_inbound", lag}}},
      {"store", {{"commits", st.store->commits()}, {"jobs", st.store->jobs()}}},
      {"process", {{"peak_rss_kib", peak_rss_kib()}}},
      {"metrics",
       [&] {
         auto rows = nlohmann::json::array();
         const std::map<std::string, target_metrics> sorted(st.metrics.begin(), st.metrics.end());
         for (const auto& [rule, m] : sorted)
           rows.push_back({{"rule", rule},
                           {"target", rule_of(st, rule) ? rule_of(st, rule)->target : ""},
                           {"MatchedEvents", m.matched},
                           {"Invocations", m.invocations},
                           {"InvocationAttempts", m.attempts},
                           {"SuccessfulInvocationAttempts", m.successful_attempts},
                           {"RetryInvocationAttempts", m.retry_attempts},
                           {"FailedInvocations", m.failed},
                           {"InvocationsSentToDlq", m.sent_to_dlq},
                           {"InvocationsFailedToBeSentToDlq", m.failed_to_dlq},
                           {"IngestiontoInvocationStartLatency",
                            {{"average_ms", m.latency_count ? static_cast<double>(m.latency_sum_ms) / m.latency_count : 0.0},
                             {"maximum_ms", m.latency_max_ms}}}});
         return rows;
       }()},
      {"services", nlohmann::json::object()}};
}

void serve_replay(bus_actor* self, const std::string& identity, const wire::replay_request& req) {
  auto& st = self->state;
  auto it = st.out.find(req.stream);
  wire::replay_batch batch{req.stream, st.epoch, it == st.out.end() ? 0 : it->second.head, 0, {}};
  if (it == st.out.end()) {
    self->state.endpoint->reply(identity, wire::encode(batch));
    return;
  }
  // A request for another incarnation starts over at the beginning of ours.
  const std::uint64_t from = req.epoch == st.epoch ? std::max<std::uint64_t>(req.from, 1) : 1;
  const auto max = std::min<std::uint32_t>(std::max<std::uint32_t>(req.max, 1), replay_batch_size);
  ++st.counters.replays_served;
  auto bus = caf::actor_cast<caf::actor>(self);
  auto ep = st.endpoint;
  auto rows = std::make_shared<std::vector<std::pair<std::uint64_t, std::string>>>();
  st.store->submit(
      [=](store::txn& t) -> result<void> {
        auto r = t.outbox_read(req.stream, from, max, wire::replay_batch_bytes);
        if (!r)
          return r.err();
        *rows = std::move(*r);
        return {};
      },
      [=]() mutable {
        // Nothing kept from `from` on: every event up to the head is gone
        // (acked by all, or expired), so the peer may resume after it.
        batch.first_kept = rows->empty() ? batch.head + 1 : rows->front().first;
        batch.events = std::move(*rows);
        ep->reply(identity, wire::encode(batch));
      });
}

/// Event `seq` of stream `key`, which this node cannot decode: in its
/// place, one dead letter (UNDECODABLE_EVENT) for each local rule that could
/// route the stream and has a DLQ, committed with the stream's cursor past
/// it; without such a rule it is counted and logged. Only the next event of
/// the stream is taken so: any other waits for its turn.
void take_undecodable(bus_actor* self, const stream_key& key, std::uint64_t epoch, std::uint64_t seq,
                      std::size_t size, const std::string& why) {
  auto& st = self->state;
  auto& s = st.in[key];
  if (epoch != s.accepted.epoch || seq != s.accepted.seq + 1 || st.held_count >= max_held_events)
    return;
  ++st.counters.undecodable;
  s.accepted.seq = seq;
  auto h = std::make_shared<held_event>();
  h->key = key;
  h->epoch = epoch;
  h->seq = seq;
  // What is known of it: where it comes from and its place.
  auto ev = std::make_shared<wire::envelope>();
  ev->id = key.first + "/" + key.second + "/" + std::to_string(epoch) + "/" + std::to_string(seq);
  ev->source = undecodable_source;
  ev->detail_type = key.second;
  ev->time_ms = wall_now();
  ev->origin = key.first;
  ev->epoch = epoch;
  ev->seq = seq;
  ev->detail = std::string("\x80", 1);  // an empty map
  std::size_t letters = 0;
  for (std::size_t i = 0; i < st.rule_targets.size(); ++i) {
    const auto* rule = rule_of(st, st.matcher->name(i));
    if (!rule || !st.services.count(rule->target) || rule->dead_letter_queue.empty())
      continue;
    if (rule->detail_types && std::find(rule->detail_types->begin(), rule->detail_types->end(), key.second)
                                  == rule->detail_types->end())
      continue;
    emission em;
    em.d = delivery{0, rule->target, rule->name, ev, nullptr, {}};
    em.status = outcome::permanent;
    em.error_code = error_code::undecodable_event;
    em.error = "event " + std::to_string(seq) + " of stream " + key.second + " from " + key.first + " ("
               + std::to_string(size) + " bytes) cannot be decoded here: " + why;
    em.at_ms = ev->time_ms;
    h->answers.push_back(std::move(em));
    ++letters;
  }
  st.log->error("stream {}/{}: event {} ({} bytes) cannot be decoded: {}; {}", key.first, key.second, seq, size, why,
                letters ? std::to_string(letters) + " dead letter(s) in its place" : std::string("no DLQ takes it, dropped"));
  st.held[key].push_back(std::move(h));
  ++st.held_count;
  bus_work w;
  release(self, key, w);
  commit(self, std::move(w));
}

void take_replay(bus_actor* self, const std::string& origin, const wire::replay_batch& batch) {
  auto& st = self->state;
  const stream_key key{origin, batch.stream};
  auto& s = st.in[key];
  s.replay_asked_ms = 0;
  if (batch.epoch > s.accepted.epoch) {
    s.accepted = store::cursor{batch.epoch, 0};
    s.committed = 0;
  }
  if (batch.epoch == s.accepted.epoch && batch.first_kept > s.accepted.seq + 1 && batch.first_kept > 1) {
    // What lies between was acked by every consumer, this node included,
    // before its store was lost; it cannot be had again.
    st.log->warn("stream {}/{}: seq {}..{} no longer kept at the origin; resuming at {}", origin, batch.stream,
                 s.accepted.seq + 1, batch.first_kept - 1, batch.first_kept);
    s.accepted.seq = batch.first_kept - 1;
  }
  const auto before = s.accepted;
  std::vector<event_ptr> events;
  for (const auto& [seq, bytes] : batch.events) {
    auto ev = wire::decode(bytes);
    if (ev && (ev->origin != origin || ev->detail_type != batch.stream || ev->seq != seq || ev->epoch != batch.epoch))
      ev = error{errc::invalid_field, "its origin, stream, epoch or seq is not the batch's"};
    if (!ev) {
      // Asking again would bring the same bytes: the event becomes a dead
      // letter in its place, and the stream moves on.
      take_events(self, events);
      events.clear();
      take_undecodable(self, key, batch.epoch, seq, bytes.size(), ev.err().to_string());
      continue;
    }
    ++st.counters.replayed_in;
    events.push_back(std::make_shared<wire::envelope>(std::move(*ev)));
  }
  take_events(self, events);
  // Ask for the rest only when this batch moved the stream: one that did
  // not (the services are saturated, say) waits for the next heartbeat
  // instead of asking again at once, round trip after round trip.
  auto& now = st.in[key];
  if (now.accepted.epoch == batch.epoch && now.accepted.seq < batch.head
      && (now.accepted.seq != before.seq || now.accepted.epoch != before.epoch))
    ask_replay(self, key, now, batch.epoch, now.accepted.seq + 1);
}

void take_heartbeat(bus_actor* self, const wire::heartbeat& hb) {
  auto& st = self->state;
  for (const auto& [stream, head] : hb.heads) {
    if (!consumes(st, stream))
      continue;
    const stream_key key{hb.origin, stream};
    auto& s = st.in[key];
    const bool behind = hb.epoch != s.accepted.epoch ? hb.epoch > s.accepted.epoch : head > s.accepted.seq;
    // Lagging behind a busy stream is normal; not moving between two beats
    // while behind means something was lost.
    if (behind && (s.seq_at_last_beat == UINT64_MAX || s.seq_at_last_beat == s.accepted.seq))
      ask_replay(self, key, s, hb.epoch, hb.epoch == s.accepted.epoch ? s.accepted.seq + 1 : 1);
    s.seq_at_last_beat = s.accepted.seq;
  }
}

/// Acks what committed since the last time; with `again`, every stream's
/// position anew, so that an origin that lost acks (it persists them
/// lazily) learns them again before it could take an event for unacked.
void flush_acks(bus_actor* self, bool again) {
  auto& st = self->state;
  std::map<std::string, wire::ack> by_origin;
  for (auto& [key, s] : st.in)
    if (again || s.committed > s.acked.seq || s.accepted.epoch != s.acked.epoch) {
      if (s.committed == 0)
        continue;
      auto& a = by_origin[key.first];
      a.node = st.node;
      a.acks.push_back({key.second, s.accepted.epoch, s.committed});
      s.acked = store::cursor{s.accepted.epoch, s.committed};
    }
  for (const auto& [origin, a] : by_origin)
    st.endpoint->send_peer(origin, wire::encode(a));
}

/// Persists the peers' acks and deletes what every consumer acked, as store
/// chores of at most `prune_chunk` events each, so that pruning never
/// holds a commit up for long (deleting a tick's worth at 20,000 events/s
/// in one go took up to 5 ms, measured).
constexpr std::uint64_t prune_chunk = 256;

void prune(bus_actor* self) {
  auto& st = self->state;
  if (!st.acks_dirty)
    return;
  st.acks_dirty = false;
  auto acks = st.peer_acks;
  st.store->submit_chore([acks](store::txn& t) -> result<void> {
    for (const auto& [key, seq] : acks)
      if (auto r = t.ack_set(key.first, key.second, seq); !r)
        return r;
    return {};
  });
  for (auto& [stream, os] : st.out) {
    if (os.consumers.empty())
      continue;
    std::uint64_t upto = os.head;
    for (const auto& peer : os.consumers) {
      auto it = st.peer_acks.find({peer, stream});
      upto = std::min(upto, it == st.peer_acks.end() ? 0 : it->second);
    }
    for (auto from = os.pruned; from < upto; from += prune_chunk) {
      const auto to = std::min(upto, from + prune_chunk);
      st.store->submit_chore([stream = stream, to](store::txn& t) -> result<void> {
        auto r = t.outbox_prune(stream, to);
        if (!r)
          return r.err();
        return {};
      });
    }
    os.pruned = std::max(os.pruned, upto);
  }
}

/// Finds the events of this node's streams that some consumer has not
/// acked within the stream's maximum event age; `dead_letter_expired`
/// drops them.
constexpr std::size_t expire_batch = 1000;

void expire(bus_actor* self) {
  auto& st = self->state;
  struct cutoff {
    std::string stream;
    std::uint64_t after;   // seqs up to here are dropped or being dropped
    std::int64_t before;   // oldest time kept
  };
  std::vector<cutoff> cutoffs;
  const auto now = wall_now();
  for (const auto& [stream, os] : st.out)
    if (os.head > std::max(os.pruned, os.expired_upto))
      cutoffs.push_back({stream, os.expired_upto, now - os.max_age_ms});
  if (cutoffs.empty())
    return;
  auto bus = caf::actor_cast<caf::actor>(self);
  auto expired = std::make_shared<std::vector<store::expired_event>>();
  st.store->submit(
      [=](store::txn& t) -> result<void> {
        for (const auto& c : cutoffs) {
          auto r = t.outbox_older(c.stream, c.after, c.before, expire_batch);
          if (!r)
            return r.err();
          expired->insert(expired->end(), std::make_move_iterator(r->begin()), std::make_move_iterator(r->end()));
        }
        return {};
      },
      [=] {
        if (!expired->empty())
          caf::anon_send(bus, expired_atom::value, std::move(*expired));
      });
}

/// The dead letter (MAX_EVENT_AGE) of `ev`, which node `peer`, where
/// `target` runs, did not take within its maximum age; `dlq` when not the
/// rule's.
void age_letter(bus_actor* self, const std::string& target, const std::string& rule, const wire::envelope& ev,
                const std::string& peer, const char* what, const std::string& dlq, bus_work& w) {
  auto& st = self->state;
  emission em;
  em.d = delivery{0, target, rule, std::make_shared<wire::envelope>(ev), nullptr, {}};
  em.status = outcome::transient;
  em.error_code = error_code::max_event_age;
  em.error = "node " + peer + " did not take the " + what + " within its maximum age";
  em.dead_letter_queue = dlq;
  auto& m = st.metrics[rule];
  ++m.invocations;
  ++m.failed;
  auto dl = dead_letter_of(st, em, "MaximumEventAgeInSeconds");
  dl.node = peer;  // where the target runs, which never took it
  dead_letter_out(self, dl, w);
}

/// A DeadLetterRedriven event of this node's DLQ that `peer` did not take
/// within its age goes back to the DLQ, if `peer` runs its target. True
/// when it did.
bool redrive_expired(bus_actor* self, const wire::envelope& ev, const std::string& peer, bus_work& w) {
  auto order = read_redrive(ev);
  if (!order || !order->event)
    return false;
  const auto* host = self->state.cfg->node_hosting(order->target);
  if (!host || host->name != peer)
    return false;
  age_letter(self, order->target, order->rule, *order->event, peer, "redrive", cluster::dlq_service, w);
  return true;
}

/// Drops events that a consumer did not ack within their maximum age. Each
/// becomes a dead letter (MAX_EVENT_AGE) for every rule with a DLQ that
/// routes it to a service on a node that had not acked it; the deletion and
/// the dead letters commit together.
void dead_letter_expired(bus_actor* self, std::vector<store::expired_event>& expired) {
  auto& st = self->state;
  bus_work w;
  auto gone = std::make_shared<std::vector<std::pair<std::string, std::uint64_t>>>();
  for (auto& x : expired) {
    auto& os = out_stream(st, x.stream);
    if (x.seq <= os.expired_upto)
      continue;  // already being dropped
    os.expired_upto = x.seq;
    gone->emplace_back(x.stream, x.seq);
    ++st.counters.expired;
    auto ev = wire::decode(x.bytes);
    if (!ev)
      continue;
    std::vector<std::size_t> hits;
    st.matcher->match(view_of(*ev), hits);
    bool lettered = false;
    for (const auto& peer : os.consumers) {
      auto acked = st.peer_acks.find({peer, x.stream});
      if (acked != st.peer_acks.end() && acked->second >= x.seq)
        continue;
      // A redrive its target's node never took: the letter comes back.
      if (redrive_expired(self, *ev, peer, w)) {
        lettered = true;
        continue;
      }
      for (auto i : hits) {
        const auto& target = st.rule_targets[i];
        const auto* host = st.cfg->node_hosting(target);
        if (!host || host->name != peer)
          continue;
        age_letter(self, target, st.matcher->name(i), *ev, peer, "event", "", w);
        lettered = true;
      }
    }
    if (!lettered)
      st.log->error("event {}#{} was not acked by every consumer within the maximum event age; dropped", x.stream,
                    x.seq);
  }
  // A full batch may have more behind it: look again at the next tick.
  st.expire_soon = expired.size() >= expire_batch;
  if (gone->empty())
    return;
  originate(self, std::move(w.events),
            [gone](store::txn& t) -> result<void> {
              for (const auto& [stream, seq] : *gone)
                if (auto r = t.outbox_delete(stream, seq); !r)
                  return r;
              return {};
            },
            after_commit{});
}

/// A digest of everything an entry says, to tell a repeated idempotency key
/// with the same content from one with other content (FNV-1a, each field
/// prefixed by its length).
std::uint64_t digest_of(const wire::put_entry& e) {
  std::uint64_t h = 14695981039346656037ULL;
  const auto mix = [&](std::string_view v) {
    const auto n = static_cast<std::uint64_t>(v.size());
    for (int i = 0; i < 8; ++i)
      h = (h ^ ((n >> (8 * i)) & 0xff)) * 1099511628211ULL;
    for (unsigned char c : v)
      h = (h ^ c) * 1099511628211ULL;
  };
  mix(e.source);
  mix(e.detail_type);
  mix(e.detail);
  mix(e.correlation_id);
  for (const auto& r : e.resources)
    mix(r);
  return h;
}

/// Settles entry `i` of `call` with a key already answered: the same event
/// again, or an error when the key came with other content.
void settle_repeat(bus_state& st, put_call& call, std::size_t i, const std::string& event_id, std::uint64_t digest) {
  call.settled[i] = true;
  if (digest != call.digests[i]) {
    ++st.counters.put_refused;
    call.results[i] = {"", "IdempotencyKeyMismatch",
                       "idempotency key '" + call.entries[i].idempotency_key
                           + "' was used before with other content (event " + event_id + ")"};
    return;
  }
  ++st.counters.idempotent_repeats;
  call.results[i] = {event_id, "", ""};
}

/// The entries of `call` not settled yet become events: written, with their
/// idempotency keys, in one transaction, and answered once it committed.
/// Keys seen since the lookup (a retry racing its first try) answer the
/// event they made.
void finish_put(bus_actor* self, put_call& call) {
  auto& st = self->state;
  std::vector<std::shared_ptr<wire::envelope>> events;
  auto keys = std::make_shared<std::vector<std::pair<std::string, store::idempotency_record>>>();
  const auto now = wall_now();
  for (std::size_t i = 0; i < call.entries.size(); ++i) {
    if (call.settled[i])
      continue;
    auto& e = call.entries[i];
    if (!e.idempotency_key.empty()) {
      if (auto it = st.idempotency.find(e.idempotency_key); it != st.idempotency.end()) {
        settle_repeat(st, call, i, it->second.event_id, it->second.digest);
        continue;
      }
      if (i < call.found.size() && call.found[i]) {
        settle_repeat(st, call, i, call.found[i]->event_id, call.found[i]->digest);
        continue;
      }
    }
    ++st.counters.put;
    events.push_back(new_event(std::move(e.source), std::move(e.detail_type), std::move(e.detail),
                               std::move(e.correlation_id), "", std::move(e.resources)));
    call.results[i] = {events.back()->id, "", ""};
    if (!e.idempotency_key.empty()) {
      st.idempotency[e.idempotency_key] = {events.back()->id, call.digests[i], now, false};
      keys->emplace_back(e.idempotency_key, store::idempotency_record{events.back()->id, call.digests[i]});
    }
  }
  wire::control_reply rep;
  rep.ok = true;
  rep.results = std::move(call.results);
  // PutEvents answers once the events are durable: an id means stored.
  after_commit ac;
  ac.reply_to = call.identity;
  ac.reply = wire::encode_reply(rep, "put");
  for (const auto& k : *keys)
    ac.idempotency_keys.push_back(k.first);
  std::function<result<void>(store::txn&)> extra;
  if (!keys->empty())
    extra = [keys, expires = now + st.idempotency_ttl_ms](store::txn& t) -> result<void> {
      for (const auto& [key, rec] : *keys)
        if (auto r = t.idempotency_put(key, rec, expires); !r)
          return r;
      return {};
    };
  originate(self, std::move(events), std::move(extra), std::move(ac));
}

/// PutEvents: each entry is checked against every limit an event must meet
/// (wire/limits.hpp) and answered with an id only if it becomes an event.
/// Keys this incarnation has not seen are looked up in the store first.
void put_events(bus_actor* self, const std::string& identity, std::vector<wire::put_entry> entries) {
  auto& st = self->state;
  auto call = std::make_shared<put_call>();
  call->identity = identity;
  call->results.resize(entries.size());
  call->settled.assign(entries.size(), false);
  call->digests.assign(entries.size(), 0);
  std::vector<std::size_t> lookup;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    auto problem = wire::check_entry({e.source, e.detail_type, e.detail, e.correlation_id, &e.resources});
    if (!problem && (e.source == cluster::dead_letter_source || e.source == redrive_source
                     || e.source == undecodable_source))
      // The runtime's own, as EventBridge keeps "aws." sources to itself.
      problem = {"InvalidArgument", "source " + e.source + " is reserved for the runtime"};
    if (problem) {
      ++st.counters.put_refused;
      call->results[i] = {"", problem.code, problem.message};
      call->settled[i] = true;
      continue;
    }
    if (e.idempotency_key.empty())
      continue;
    call->digests[i] = digest_of(e);
    if (auto it = st.idempotency.find(e.idempotency_key); it != st.idempotency.end())
      continue;  // settled by finish_put
    lookup.push_back(i);
  }
  call->entries = std::move(entries);
  if (lookup.empty()) {
    finish_put(self, *call);
    return;
  }
  call->found.resize(call->entries.size());
  auto bus = caf::actor_cast<caf::actor>(self);
  st.store->submit(
      [call, lookup](store::txn& t) -> result<void> {
        for (auto i : lookup) {
          auto r = t.idempotency_get(call->entries[i].idempotency_key);
          if (!r)
            return r.err();
          call->found[i] = std::move(*r);
        }
        return {};
      },
      [call, bus] { caf::anon_send(bus, put_atom::value, call); });
}

/// An ack that the config does not allow: counted, logged (rate-limited)
/// and never stored.
void refuse_ack(bus_state& st, const std::string& why) {
  ++st.counters.bad_acks;
  if (auto held = st.log_limit.admit("ack"))
    st.log->warn("refused an ack {}{}", why,
                 *held ? " (" + std::to_string(*held) + " more refused since the last line)" : std::string());
}

void control(bus_actor* self, const control_call& call) {
  auto& st = self->state;
  const auto verb = wire::peer_verb(call.body);
  if (verb == "ack") {
    auto a = wire::decode_ack(call.body);
    if (!a || !st.peer_consumes.count(a->node)) {
      refuse_ack(st, a ? "from '" + a->node + "', which is not a node of the config" : a.err().to_string());
      return;
    }
    for (const auto& x : a->acks) {
      if (x.epoch != st.epoch)
        continue;  // an ack for an earlier incarnation of this node
      // Only a stream this node has, from a consumer the config gives it:
      // anything else would be stored and kept for ever.
      auto out = st.out.find(x.stream);
      if (out == st.out.end()
          || std::find(out->second.consumers.begin(), out->second.consumers.end(), a->node)
                 == out->second.consumers.end()) {
        refuse_ack(st, "from " + a->node + " for stream '" + x.stream.substr(0, 64)
                           + (x.stream.size() > 64 ? "...'" : "'") + ", which is not one of this node's that "
                           + a->node + " consumes");
        continue;
      }
      auto& v = st.peer_acks[{a->node, x.stream}];
      // Never more than was given out: a peer cannot ack the future.
      const auto capped = std::min(x.seq, out->second.head);
      if (capped > v) {
        v = capped;
        st.acks_dirty = true;
      }
    }
    return;
  }
  if (verb == "replay") {
    auto r = wire::decode_replay_request(call.body);
    if (r)
      serve_replay(self, call.identity, *r);
    return;
  }
  auto req = wire::decode_request(call.body);
  if (!req) {
    answer(self, call.identity, "", false, req.err().to_string());
    return;
  }
  if (req->verb == "put") {
    put_events(self, call.identity, std::move(req->entries));
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
    auto status = std::make_shared<nlohmann::json>(bus_status(st));
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

void restart_ready(bus_actor* self);

/// A service's answers. An answer for an inbox delivery commits now; one
/// for a held event waits for the events before it in its stream. All that
/// is ready commits in one transaction.
void complete(bus_actor* self, emission_batch& batch) {
  bus_work w;
  std::set<stream_key> touched;
  for (auto& em : batch.items) {
    if (em.d.hold) {
      auto h = std::move(em.d.hold);  // the answer must not own its holder: no cycle
      --h->remaining;
      touched.insert(h->key);
      h->answers.push_back(std::move(em));
      continue;
    }
    resolve(self, em, w);
  }
  for (const auto& key : touched)
    release(self, key, w);
  commit(self, std::move(w));
  restart_ready(self);
}

/// Whether a successful answer of `service` waits in a held event.
bool holds_success_of(const bus_state& st, const std::string& service) {
  for (const auto& [key, q] : st.held)
    for (const auto& h : q)
      for (const auto& em : h->answers)
        if (em.status == outcome::ok && em.d.target == service)
          return true;
  return false;
}

/// Rebuilds each crashed service whose successful answers have all gone to
/// the writer: the read queues behind their commits, so it sees every one.
void restart_ready(bus_actor* self) {
  auto& st = self->state;
  for (auto it = st.restarting.begin(); it != st.restarting.end();) {
    if (holds_success_of(st, *it)) {
      ++it;
      continue;
    }
    auto service = *it;
    auto actor = st.services.at(service);
    auto rows = std::make_shared<state_rows>();
    st.store->submit(
        [=](store::txn& t) -> result<void> {
          auto r = t.state_rows(service);
          if (!r)
            return r.err();
          rows->rows = std::move(*r);
          return {};
        },
        [=] { caf::anon_send(actor, restore_atom::value, std::move(*rows)); });
    it = st.restarting.erase(it);
  }
}

/// Idempotency keys: the store forgets those past the longest maximum event
/// age; memory keeps a key only until its row is surely committed (a
/// minute), so that a lookup racing the commit still finds it.
void expire_idempotency(bus_state& st) {
  const auto now = wall_now();
  for (auto it = st.idempotency.begin(); it != st.idempotency.end();)
    it = it->second.durable && now - it->second.since_ms > 60000 ? st.idempotency.erase(it) : std::next(it);
  st.store->submit_chore([now](store::txn& t) -> result<void> {
    auto r = t.idempotency_expire(now, 10000);
    if (!r)
      return r.err();
    return {};
  });
}

void publish_heartbeat(bus_actor* self) {
  auto& st = self->state;
  wire::heartbeat hb{st.node, st.epoch, {}};
  for (const auto& [stream, os] : st.out)
    hb.heads.emplace_back(stream, os.head);
  st.endpoint->publish(wire::heartbeat_topic, wire::encode(hb));
}

caf::behavior running_bus(bus_actor* self) {
  return {
      [=](event_atom, const inbound_events& evs) {
        self->state.counters.from_wire += evs.items.size();
        take_events(self, evs.items);
      },
      [=](commit_atom, after_commit& ac) {
        auto& st = self->state;
        for (const auto& m : ac.accepted) {
          auto& s = st.in[{m.origin, m.stream}];
          if (m.epoch == s.accepted.epoch)
            s.committed = std::max(s.committed, m.seq);
        }
        st.endpoint->publish(std::move(ac.frames));
        dispatch(self, ac.deliveries);
        for (const auto& retries : {ac.parked, ac.rescheduled})
          if (retries)
            for (auto& d : *retries)
              retry_later(self, std::move(d));
        if (!ac.reply_to.empty())
          st.endpoint->reply(ac.reply_to, std::move(ac.reply));
        for (const auto& key : ac.idempotency_keys)
          if (auto it = st.idempotency.find(key); it != st.idempotency.end())
            it->second.durable = true;
      },
      [=](put_atom, const std::shared_ptr<put_call>& call) { finish_put(self, *call); },
      [=](emit_atom, emission_batch& batch) { complete(self, batch); },
      [=](crashed_atom, const std::string& service) {
        self->state.restarting.insert(service);
        restart_ready(self);
      },
      [=](retry_atom, const delivery& d) { dispatch(self, {d}); },
      [=](expired_atom, std::vector<store::expired_event>& expired) { dead_letter_expired(self, expired); },
      [=](control_atom, const control_call& call) { control(self, call); },
      [=](peer_atom, const peer_message& m) {
        if (wire::peer_verb(m.body) != "events")
          return;
        auto batch = wire::decode_replay_batch(m.body);
        if (batch)
          take_replay(self, m.node, *batch);
      },
      [=](beat_atom, const std::string& body) {
        auto hb = wire::decode_heartbeat(body);
        if (hb && self->state.peer_consumes.count(hb->origin))
          take_heartbeat(self, *hb);
      },
      [=](tick_atom) {
        auto& st = self->state;
        ++st.ticks;
        flush_acks(self, st.ticks % heartbeat_every_ticks == 0);
        prune(self);
        if (st.ticks % heartbeat_every_ticks == 0)
          publish_heartbeat(self);
        if (st.ticks % expire_every_ticks == 0 || st.expire_soon) {
          st.expire_soon = false;
          expire(self);
        }
        if (st.ticks % expire_every_ticks == 0)
          expire_idempotency(st);
        self->delayed_send(self, tick_interval, tick_atom::value);
      },
  };
}

/// The bus: waits for its endpoint, keeping whatever arrives meanwhile in
/// its mailbox, then redelivers what the inbox held and routes.
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
        // What the inbox held: due now, or retried when due.
        std::vector<delivery> now;
        for (auto& d : self->state.recovered) {
          if (d.retry.due_ms > wall_now())
            retry_later(self, std::move(d));
          else
            now.push_back(std::move(d));
        }
        dispatch(self, now);
        self->state.recovered.clear();
        publish_heartbeat(self);
        self->send(self, tick_atom::value);
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

  // The store comes first: a node never starts on a store it cannot read.
  const auto durability = store::parse_durability(spec->durability).value_or(store::durability::os);
  store::snapshot snap;
  auto opened = store::node_store::open((spec->data_dir / "node.db").string(), durability, snap);
  if (!opened) {
    log->error("cannot open the store: {}", opened.err().message);
    return 1;
  }
  std::shared_ptr<store::node_store> db = std::move(*opened);
  db->fatal = [log](const std::string& why) {
    log->critical("{}; stopping so that the launcher restarts this node from its last commit", why);
    log->flush();
    std::_Exit(3);
  };

  // Services: built, given back their state, then started.
  std::vector<std::pair<std::string, std::shared_ptr<service>>> services;
  std::map<std::string, service_maker> makers;
  for (const auto& sname : spec->services) {
    cluster::diagnostics diag(cfg.file);
    service_context ctx{name, spec->data_dir, cfg.dir, durability == store::durability::fsync};
    const auto* factory = registry.find(sname);
    std::unique_ptr<service> s = factory ? (*factory)(cfg.settings_of(sname), ctx, diag) : nullptr;
    if (!s) {
      log->error("cannot create service {}: {}", sname, diag.to_string());
      return 2;
    }
    const auto f = cfg.faults.find(sname);
    // A restart builds the service anew from its settings; injected faults
    // keep their wrapper (its dice, counts and outage clock).
    makers[sname] = [factory = *factory, settings = cfg.settings_of(sname), ctx,
                     faulty = f != cfg.faults.end()](std::shared_ptr<service> crashed) -> std::shared_ptr<service> {
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
    if (f != cfg.faults.end()) {
      const auto& spec = f->second;
      log->warn("service {}: injecting faults (transient {}, crash {}, poison {}, delay {} s with probability {}, "
                "outage {} s after start for {} s)",
                sname, spec.transient, spec.crash, spec.poison_json.empty() ? "none" : spec.poison_json,
                spec.delay.count() / 1000.0, spec.delay_probability, spec.outage_after.count() / 1000.0,
                spec.outage_for.count() / 1000.0);
      s = std::make_unique<faulty_service>(std::move(s), spec, std::random_device{}());
    }
    services.emplace_back(sname, std::move(s));
  }
  std::size_t restored = 0;
  std::string restore_error;
  db->for_each_state([&](const std::string& svc, const std::string& table, const std::string& key,
                         const std::string& value) {
    for (auto& [sname, impl] : services)
      if (sname == svc) {
        auto j = nlohmann::json::parse(value, nullptr, false);
        try {
          impl->restore(table, key, j);
          ++restored;
        } catch (const std::exception& e) {
          restore_error = svc + "/" + table + "/" + key + ": " + e.what();
        }
      }
  });
  if (!restore_error.empty()) {
    log->error("cannot restore service state: {}", restore_error);
    return 1;
  }
  for (auto& [sname, impl] : services) {
    try {
      impl->start();
    } catch (const std::exception& e) {
      log->error("service {} failed to start: {}", sname, e.what());
      return 1;
    }
  }

  // Rules: all of them compile into the one matcher; the rules targeting a
  // node decide what it consumes: its subscriptions here, and which peers
  // must ack which streams before the origin may forget an event.
  auto matcher = std::make_shared<rules::matcher>();
  std::vector<std::string> rule_targets;
  std::map<std::string, std::set<std::string>> consumes;  // node → streams ("" = everything)
  for (const auto& r : cfg.rules) {
    auto added = matcher->add(r.name, r.pattern_json);
    if (std::holds_alternative<rules::pattern_error>(added)) {
      log->error("rule {}: {}", r.name, std::get<rules::pattern_error>(added).to_string());
      return 2;
    }
    const auto index = std::get<std::size_t>(added);
    rule_targets.push_back(r.target);
    const auto* host = cfg.node_hosting(r.target);
    if (!host)
      continue;
    auto& set = consumes[host->name];
    if (auto pinned = matcher->pinned_values(index, "detail-type"))
      set.insert(pinned->begin(), pinned->end());
    else
      set.insert("");
  }
  matcher->compile();
  // Where a DLQ runs, every other node with services takes what it sends
  // back: a redrive goes to the target's node wherever it runs now.
  const bool any_dlq =
      std::any_of(cfg.rules.begin(), cfg.rules.end(), [](const auto& r) { return !r.dead_letter_queue.empty(); });
  if (const auto* dlq_host = cfg.node_hosting(cluster::dlq_service); dlq_host && any_dlq)
    for (const auto& n : cfg.nodes)
      if (n.name != dlq_host->name)
        consumes[n.name].insert(cluster::redrive_type);
  std::set<std::string> topics;
  bool everything = consumes[name].count("") > 0;
  for (const auto& t : consumes[name])
    if (!t.empty())
      topics.insert(wire::topic_of(t));

  wire::endpoint_options opts;
  opts.node = name;
  opts.pub_bind = spec->pub;
  opts.control_bind = spec->control;
  for (const auto& n : cfg.nodes)
    if (n.name != name) {
      opts.peers.push_back(n.pub);
      opts.peer_controls.emplace_back(n.name, n.control);
    }
  if (everything)
    opts.topics = {""};
  else
    opts.topics.assign(topics.begin(), topics.end());

  caf::actor_system_config sys_cfg;
  // One scheduler thread: a node's actors hand work along a chain (wire,
  // bus, service, bus, store), which gains nothing from running on two
  // cores at once and loses to cross-core hand-offs; the wire and store
  // threads run beside it. Measured on the saga, all at once: about 3,300
  // bookings/s with one thread, 2,900 with two.
  sys_cfg.set("scheduler.max-threads", 1);
  // Work sharing: an idle worker waits on a condition variable and wakes
  // when work arrives. Work stealing's idle workers sleep (10 ms when
  // relaxed) without being woken, which put up to 10 ms on every hop of an
  // idle cluster (measured: saga p50 38 ms at 500 bookings/s).
  sys_cfg.set("scheduler.policy", caf::atom("sharing"));
  sys_cfg.set("logger.file-verbosity", caf::atom("quiet"));
  sys_cfg.set("logger.console-verbosity", caf::atom("quiet"));
  caf::actor_system sys{sys_cfg};

  std::unordered_map<std::string, caf::actor> actors;
  for (auto& [sname, impl] : services)
    actors[sname] = sys.spawn(service_actor, sname, impl, makers.at(sname), cfg.supervision, log);
  bus_state init;
  init.node = name;
  init.cfg = &cfg;
  for (const auto& r : cfg.rules)
    init.rules[r.name] = &r;
  // Idempotency keys are kept for the longest maximum event age: a client
  // retrying within it never makes an event twice.
  init.idempotency_ttl_ms = 0;
  for (const auto& r : cfg.rules)
    init.idempotency_ttl_ms = std::max<std::int64_t>(init.idempotency_ttl_ms, r.retry.maximum_event_age.count());
  if (init.idempotency_ttl_ms == 0)
    init.idempotency_ttl_ms = cluster::retry_policy{}.maximum_event_age.count();
  // The epoch tells this store's streams from those of an earlier store
  // that was lost: it is made once, with the database.
  init.epoch = snap.epoch;
  init.matcher = matcher;
  init.rule_targets = rule_targets;
  init.services = actors;
  init.log = log;
  init.store = db;
  init.consumed = consumes[name];
  init.consumed.erase("");
  init.consumes_everything = everything;
  for (const auto& n : cfg.nodes)
    if (n.name != name)
      init.peer_consumes[n.name] = consumes[n.name];
  for (const auto& [stream, head] : snap.heads) {
    auto& os = init.out[stream];
    os.head = head;
    auto kept = snap.outbox_min.find(stream);
    os.pruned = kept == snap.outbox_min.end() ? head : kept->second - 1;
  }
  for (auto& [stream, os] : init.out) {
    os.consumers = consumers_of(init, stream);
    os.max_age_ms = cfg.event_age_of(stream).count();
  }
  for (const auto& [key, c] : snap.cursors) {
    auto& s = init.in[key];
    s.accepted = c;
    s.committed = c.seq;
    s.acked = store::cursor{c.epoch, 0};  // ack again after a restart: the origin may not have it
  }
  for (const auto& [key, seq] : snap.acks)
    init.peer_acks[key] = seq;
  for (const auto& row : snap.inbox) {
    auto ev = wire::decode(row.bytes);
    if (!ev) {
      log->error("inbox row {} is unreadable ({}); skipped", row.id, ev.err().to_string());
      continue;
    }
    init.recovered.push_back(delivery{row.id, row.target, row.rule,
                                      std::make_shared<wire::envelope>(std::move(*ev)), nullptr, row.retry});
  }
  const auto epoch = init.epoch;
  const auto recovered = init.recovered.size();
  auto bus_handle = sys.spawn(bus, std::move(init));

  wire::endpoint_handlers handlers;
  handlers.on_events = [bus_handle](std::vector<wire::envelope> es) {
    inbound_events batch;
    batch.items.reserve(es.size());
    for (auto& e : es)
      batch.items.push_back(std::make_shared<wire::envelope>(std::move(e)));
    caf::anon_send(bus_handle, event_atom::value, std::move(batch));
  };
  handlers.on_request = [bus_handle](std::string identity, std::string body) {
    caf::anon_send(bus_handle, control_atom::value, control_call{std::move(identity), std::move(body)});
  };
  handlers.on_heartbeat = [bus_handle](std::string body) {
    caf::anon_send(bus_handle, beat_atom::value, std::move(body));
  };
  handlers.on_peer = [bus_handle](const std::string& node, std::string body) {
    caf::anon_send(bus_handle, peer_atom::value, peer_message{node, std::move(body)});
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

  // Teardown runs in the reverse order of construction: the endpoint
  // outlives every actor and the store's writer, which both call it.
  std::unique_ptr<wire::endpoint> endpoint = std::move(*ep);
  caf::anon_send(bus_handle, init_atom::value, endpoint_ref{endpoint.get()});

  std::string sub_list;
  for (const auto& t : opts.topics)
    sub_list += (sub_list.empty() ? "" : ",") + (t.empty() ? std::string("*") : t.substr(0, t.size() - 1));
  log->info("store {} ({}): {} state rows restored, {} deliveries pending, {} streams",
            (spec->data_dir / "node.db").string(), store::to_string(durability), restored, recovered,
            snap.heads.size());
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
  endpoint->stop();  // nothing more from the wire; its queue still takes sends
  for (auto& [_, a] : actors)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(bus_handle, caf::exit_reason::user_shutdown);
  actors.clear();
  bus_handle = caf::actor{};
  sys.await_all_actors_done();  // no actor calls the endpoint or the store any more
  db->stop();                   // the writer's last completions (replies, replays) ran
  endpoint.reset();
  log->info("stopped");
  return 0;
}

} // namespace troupe
