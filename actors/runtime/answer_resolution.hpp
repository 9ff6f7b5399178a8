// What a service's answer to one delivery becomes in the commit batch: an
// ok brings its state changes and the events it emitted; a transient
// failure is retried as its rule's policy says (recorded in the inbox
// first); a permanent one, or one out of retries, becomes a dead letter
// for the rule's DLQ, committed with the delivery's completion.
#pragma once

#include <functional>
#include <random>
#include <string>

#include <spdlog/logger.h>

#include "actors/runtime/commit_batch.hpp"
#include "actors/runtime/dead_letters.hpp"
#include "actors/runtime/delivery.hpp"
#include "actors/runtime/metrics.hpp"
#include "cluster/config.hpp"

namespace troupe::runtime {

class answer_resolver {
 public:
  using rule_lookup = std::function<const cluster::rule_spec*(const std::string&)>;

  answer_resolver(std::string node, rule_lookup rule_of, std::mt19937_64& rng, rule_metrics& metrics,
                  bus_counters& counters, spdlog::logger& log)
      : node_(std::move(node)), rule_of_(std::move(rule_of)), rng_(rng), metrics_(metrics), counters_(counters),
        log_(log) {}
  // It holds references into its owner: never copied or moved away from it.
  answer_resolver(const answer_resolver&) = delete;
  answer_resolver& operator=(const answer_resolver&) = delete;

  /// Folds answer `a`, given at `now_ms`, into `out`.
  void resolve(answer& a, std::int64_t now_ms, commit_batch& out);

  /// `dl`'s DeadLetter event into `out` when it has a DLQ; without one the
  /// failure is only counted and logged, as EventBridge drops it.
  void send_dead_letter(const dead_letter& dl, commit_batch& out);

  /// The dead letter of `a`, which failed for good, with its rule's DLQ.
  dead_letter dead_letter_for(const answer& a, std::string exhausted) const;

  const cluster::retry_policy& policy_of(const std::string& rule) const;

  /// Whether each attempt leaves a record in the trace journal (the
  /// batch's `traces`).
  void journal(bool on) { journal_ = on; }

 private:
  void record(const answer& a, store::trace_row::kind_t how, std::int64_t due_ms, commit_batch& out);
  /// The events of an ok answer; a problem with one fails the answer.
  std::optional<std::string> emit(answer& a, commit_batch& out);
  void failed_for_good(answer& a, const char* exhausted, commit_batch& out);

  std::string node_;
  rule_lookup rule_of_;
  std::mt19937_64& rng_;
  rule_metrics& metrics_;
  bus_counters& counters_;
  spdlog::logger& log_;
  bool journal_ = true;
};

}  // namespace troupe::runtime
