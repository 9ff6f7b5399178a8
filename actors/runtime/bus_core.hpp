// The bus of one node, as plain C++: every decision on an event's path
// between the wire and the services, with no actor, socket or thread.
// actors/bus.cpp runs it on the node's wire thread and does what it asks
// through `bus_port` (hand deliveries to a service, queue a store job,
// publish, answer a peer, arm a timer), so tests can drive it directly.
//
//   from a peer: on_events ─▶ gate ─▶ route ─▶ port.deliver
//   from a service: on_answers ─▶ gate (held) ─▶ release in order
//        ─▶ resolve (retry / dead letter / events) ─▶ commit batch
//        ─▶ port.write ─▶ committed: publish, deliver locally, ack, retry later
//   every tick: acks, prune, heartbeat, expiry
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "actors/runtime/answer_resolution.hpp"
#include "actors/runtime/authorization.hpp"
#include "actors/runtime/commit_batch.hpp"
#include "actors/runtime/delivery.hpp"
#include "actors/runtime/metrics.hpp"
#include "actors/runtime/outbound_streams.hpp"
#include "actors/runtime/peer_clocks.hpp"
#include "actors/runtime/put_events.hpp"
#include "actors/runtime/store_read.hpp"
#include "actors/runtime/stream_gate.hpp"
#include "actors/runtime/topology.hpp"
#include "cluster/config.hpp"
#include "store/node_store.hpp"
#include "wire/log_limit.hpp"

namespace troupe::runtime {

class bus_core;

/// What the bus asks of the world around it.
class bus_port {
 public:
  using continuation = std::function<void(bus_core&)>;
  virtual ~bus_port() = default;

  virtual std::int64_t now_ms();
  virtual std::chrono::steady_clock::time_point steady_now();
  /// Hands `batch` to `service`, in one message.
  virtual void deliver(const std::string& service, std::vector<delivery> batch) = 0;
  /// Hands `d` back to the bus (on_retry_due) after `wait`.
  virtual void retry_after(std::chrono::milliseconds wait, delivery d) = 0;
  /// Runs `job` in a store transaction; once it committed, `then` runs on the bus.
  virtual void write(store::node_store::job job, continuation then) = 0;
  /// A store chore: committed some time, nothing waits for it.
  virtual void chore(store::node_store::job job) = 0;
  virtual void publish(std::vector<std::pair<std::string, std::string>> frames) = 0;
  virtual void send_peer(const std::string& node, std::string bytes) = 0;
  virtual void reply(const std::string& identity, std::string bytes) = 0;
  /// Rebuilds crashed `service` from its stored rows.
  virtual void restore(const std::string& service, std::vector<store::state_row> rows) = 0;
  /// A query to `service`; `then` gets the rows as JSON text, or an error.
  virtual void query(const std::string& service, const std::string& what, const std::string& args,
                     std::function<void(bus_core&, bool ok, std::string body)> then) = 0;
  /// Every service's counters, by name (null for one that did not answer).
  virtual void service_stats(std::function<void(bus_core&, nlohmann::json)> then) = 0;
  /// A page of this node's store (actors/runtime/store_read.hpp), read on
  /// a connection and a thread of its own, never the writer's; `then` gets
  /// the page, or why there is none, back on the bus.
  virtual void read_store(page_bounds bounds, std::function<void(bus_core&, result<wire::read_page>)> then) = 0;
  /// The wire's and the store's counters, for status.
  virtual nlohmann::json io_stats() = 0;
  /// Runs `fn` on this node's store away from the writer (as read_store);
  /// `then` gets what it returned back on the bus. The default throws: a
  /// port that serves `trace` requests overrides it.
  virtual void inspect_store(std::function<result<nlohmann::json>(store::database&)> fn,
                             std::function<void(bus_core&, result<nlohmann::json>)> then);
};

/// What a bus starts from.
struct bus_setup {
  std::string node;
  const cluster::config* cfg = nullptr;  // outlives the bus
  std::uint64_t epoch = 0;
  std::shared_ptr<const topology> topo;
  std::set<std::string> services;        // the services on this node
  store::snapshot snap;                  // what the store held at start
  std::shared_ptr<spdlog::logger> log;
  // The detail-types the services declare, for what a keyed cluster lets
  // each node originate; null: any.
  const service_registry* registry = nullptr;
};

struct bus_timing {
  int heartbeat_every_ticks = 10;  // 500 ms at 50 ms ticks
  int expire_every_ticks = 100;    // 5 s
  std::uint32_t replay_batch_size = 2000;
  std::uint64_t prune_chunk = 256;  // events deleted per store chore
  std::size_t expire_batch = 1000;
  // Queries and status requests waiting on the services at once; past it a
  // request is refused at once, so that a flood of them (each answer may be
  // megabytes, for clients that may be gone) cannot hold the services'
  // thread or the node's memory.
  std::size_t max_asks_in_flight = 16;
  // Reads of the store (`read` requests) at once, each on a thread of its
  // own; past it a read is refused at once, as an ask is.
  std::size_t max_reads_in_flight = 2;
  stream_gate::options gate;  // held events at most, replay asked again after
  int trace_prune_every_ticks = 10;   // 500 ms
  std::size_t trace_prune_chunk = 2000;  // records forgotten per chore: 4,000 a second at most
};

class bus_core {
 public:
  bus_core(bus_setup setup, bus_port& port, bus_timing timing = {});
  // Its parts hold references to it: never copied or moved.
  bus_core(const bus_core&) = delete;
  bus_core& operator=(const bus_core&) = delete;

  /// Delivers what the inbox held (due now, or when due) and announces the
  /// streams' heads.
  void start();
  /// Events from peer `from`'s PUB, in arrival order (one burst).
  void on_events(const std::string& from, const std::vector<event_ptr>& events);
  /// A service's answers, in the order of its deliveries.
  void on_answers(std::vector<answer>& answers);
  /// A service crashed: it is rebuilt once its answers before are committed.
  void on_crashed(const std::string& service);
  void on_retry_due(delivery d) {
    if (retries_waiting_ > 0)
      --retries_waiting_;
    dispatch({std::move(d)});
  }
  /// A control request (PutEvents, query, status, read) or a peer's ack or
  /// replay request, from the connection ZAP named `user`.
  void on_request(const std::string& identity, const std::string& user, const std::string& body);
  /// A message from a peer on our DEALER to it: a replay batch.
  void on_peer(const std::string& node, const std::string& body);
  /// A heartbeat from peer `from`'s PUB.
  void on_heartbeat(const std::string& from, const std::string& body);
  /// Every 50 ms: acks, prune, heartbeat, expiry.
  void on_tick();

  nlohmann::json status() const;
  /// Everything the node counts, and its queues, in Prometheus's format
  /// (the wire's and the store's counters through the port).
  void prometheus(observe::exposition& x) const;
  /// This node's streams that some consumer has not acked to the head:
  /// each with the lowest seq its consumers acked.
  std::vector<std::pair<std::string, std::uint64_t>> unacked_streams() const;
  const bus_counters& counters() const { return counters_; }
  const stream_gate& gate() const { return gate_; }
  const outbound_streams& outbound() const { return out_; }
  rule_metrics& metrics() { return metrics_; }

 private:
  const cluster::rule_spec* rule_of(const std::string& name) const;
  std::vector<std::pair<std::string, std::string>> local_targets(const wire::envelope& ev);
  void dispatch(std::vector<delivery> ds);
  void ask_replay(const std::optional<replay_ask>& ask);
  void take_events(const std::vector<event_ptr>& events);
  void take(const event_ptr& ev, std::vector<delivery>& out, std::set<stream_key>& released);
  void take_redrive(const wire::envelope& ev, const std::shared_ptr<held_event>& h, std::vector<delivery>& out);
  void take_undecodable(const stream_key& key, std::uint64_t epoch, std::uint64_t seq, std::size_t size,
                        const std::string& why);
  void take_replay(const std::string& origin, const wire::replay_batch& batch);
  void release(const stream_key& key, commit_batch& w);
  void commit(commit_batch&& w);
  void originate(std::vector<std::shared_ptr<wire::envelope>> events, store::node_store::job extra,
                 after_commit ac, std::function<void(after_commit&)> fill = nullptr);
  void committed(after_commit& ac);
  void restart_ready();
  void serve_replay(const std::string& identity, const wire::replay_request& req);
  void take_ack(const principal& p, const std::string& body);
  void take_replay_request(const principal& p, const std::string& identity, const std::string& body);
  /// Counts and logs (rate-limited) what claimed to be someone it is not.
  void forged(const std::string& what);
  void control_request(const principal& p, const std::string& identity, const std::string& body);
  void refuse_ack(const std::string& why);
  void put(const principal& p, const std::string& identity, std::vector<wire::put_entry> entries);
  void finish_put(put_call& call);
  void answer_request(const std::string& identity, const std::string& verb, bool ok, std::string body);
  /// Whether another query or status request may wait on the services
  /// (another read, for `read`); refuses it, counted, when not.
  bool admit_ask(const std::string& identity, const std::string& verb);
  void read(const std::string& identity, wire::control_request& req);
  /// A `trace` request: the journal's records of a saga, or its sagas.
  void trace(const std::string& identity, wire::control_request& req);
  void prune_trace();
  void flush_acks(bool again);
  void prune();
  void expire();
  void dead_letter_expired(std::vector<store::expired_event>& expired);
  void age_letter(const std::string& target, const std::string& rule, const wire::envelope& ev,
                  const std::string& peer, const char* what, const std::string& dlq, commit_batch& w);
  bool redrive_expired(const wire::envelope& ev, const std::string& peer, commit_batch& w);
  void expire_idempotency();
  void publish_heartbeat();
  bool is_peer(const std::string& node) const;

  std::string node_;
  const cluster::config& cfg_;
  std::uint64_t epoch_;
  std::shared_ptr<const topology> topo_;
  std::set<std::string> services_;
  std::set<std::string> consumed_;
  bool consumes_everything_ = false;
  std::unordered_map<std::string, const cluster::rule_spec*> rules_;  // by name, into cfg_
  std::shared_ptr<spdlog::logger> log_;
  authorization access_;
  bus_port& port_;
  bus_timing timing_;
  std::vector<delivery> recovered_;  // inbox rows found at start

  stream_gate gate_;
  peer_clocks clocks_;  // each peer's clock against ours, for event ages
  outbound_streams out_;
  rule_metrics metrics_;
  bus_counters counters_;
  std::mt19937_64 rng_{std::random_device{}()};
  answer_resolver resolver_;
  idempotency_keys idempotency_;
  std::int64_t idempotency_ttl_ms_;
  // The services that crashed: one is rebuilt from its state once none of
  // its successful answers is held waiting for its stream (all have gone to
  // the store). Its answers while it is down are failures, with nothing to
  // wait for, so a steady flow of events cannot hold the rebuild off.
  std::set<std::string> restarting_;
  std::vector<std::size_t> scratch_;
  std::uint64_t ticks_ = 0;
  std::size_t asks_in_flight_ = 0;  // queries and status requests waiting on the services
  std::size_t reads_in_flight_ = 0;  // reads of the store
  bool expire_soon_ = false;  // the last expiry found a full batch
  bool journal_ = true;       // the trace journal (observability.trace-records > 0)
  std::map<std::string, std::uint64_t> in_service_;  // deliveries handed to each service, not answered yet
  std::uint64_t retries_waiting_ = 0;  // deliveries waiting for their retry's time
  wire::log_limit log_limit_;  // for what peers can make happen at will
};

}  // namespace troupe::runtime
