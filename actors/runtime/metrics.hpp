// The bus's counters, and per rule EventBridge's metrics with their names
// and meanings:
//   MatchedEvents      events the rule matched here
//   Invocations        deliveries that ended (succeeded, or failed for good)
//   InvocationAttempts every try; RetryInvocationAttempts the tries after the first
//   SuccessfulInvocationAttempts, FailedInvocations (failed for good)
//   InvocationsSentToDlq / InvocationsFailedToBeSentToDlq  dead letters
//        committed for the DLQ / those that could not be
//   IngestiontoInvocationStartLatency  from the event's time (or its
//        redrive) to the first attempt, ms
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "actors/runtime/delivery.hpp"
#include "cluster/config.hpp"
#include "observe/prometheus.hpp"

namespace troupe::runtime {

struct bus_counters {
  std::uint64_t from_wire = 0, emitted = 0, put = 0, matched = 0, unmatched = 0, deliveries = 0;
  std::uint64_t duplicates = 0, stale = 0, gaps = 0, replays_asked = 0, replays_served = 0, replayed_in = 0;
  std::uint64_t expired = 0, permanent_dropped = 0, deferred = 0, retries = 0, retries_exhausted = 0;
  std::uint64_t dead_lettered = 0, redriven = 0, redrives_refused = 0;
  std::uint64_t put_refused = 0, idempotent_repeats = 0, bad_acks = 0, undecodable = 0;
  std::uint64_t unencodable = 0;
  std::uint64_t asks_refused = 0;  // queries, status requests and reads over their limits in flight
  std::uint64_t pages_read = 0;    // pages of the store answered to `read` requests
  // What claimed to be another than the connection it came on (an event's
  // origin, a heartbeat's, an ack's or replay request's node), or a node's
  // event of a detail-type it may not originate: dropped.
  std::uint64_t forged = 0;
  std::uint64_t access_refused = 0;  // requests and entries a client's roles do not allow
};

struct target_metrics {
  std::uint64_t matched = 0, invocations = 0, attempts = 0, successful_attempts = 0, retry_attempts = 0,
                failed = 0, sent_to_dlq = 0, failed_to_dlq = 0;
  std::uint64_t latency_count = 0;
  std::int64_t latency_sum_ms = 0, latency_max_ms = 0;
  observe::histogram ingestion;  // IngestiontoInvocationStartLatency, in seconds
  observe::histogram handler;    // how long the target's handler ran, in seconds
};

/// Per rule; looked up on every delivery, so keyed by the rule name alone.
class rule_metrics {
 public:
  target_metrics& of(const std::string& rule) { return by_rule_[rule]; }

  /// A delivery handed to its service at `now_ms`.
  void attempt(const delivery& d, std::int64_t now_ms);
  /// A delivery that ended well.
  void succeeded(const std::string& rule);
  /// A delivery that failed for good.
  void failed(const std::string& rule);
  /// A handler of `rule`'s target that ran for `us` microseconds.
  void handled(const std::string& rule, std::int64_t us);

  /// Every rule's, unsorted.
  const std::unordered_map<std::string, target_metrics>& all() const { return by_rule_; }

  /// One row per rule, sorted by name, with `target_of` naming its target.
  nlohmann::json to_json(const std::function<std::string(const std::string&)>& target_of) const;

 private:
  std::unordered_map<std::string, target_metrics> by_rule_;
};

nlohmann::json to_json(const bus_counters& c);

/// Each counter with its name in to_json, and what it counts, for
/// Prometheus (troupe_bus_<name>_total).
struct counter_doc {
  const char* name;
  std::uint64_t bus_counters::*field;
  const char* help;
};
const std::vector<counter_doc>& bus_counter_docs();

/// The bus's counters and each rule's metrics in Prometheus's format,
/// labelled with `node` (and rule and target), `target_of` naming a rule's
/// target.
void write_prometheus(observe::exposition& x, const std::string& node, const bus_counters& c, const rule_metrics& m,
                      const std::function<std::string(const std::string&)>& target_of);

}  // namespace troupe::runtime
