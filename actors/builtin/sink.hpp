// `sink`: a built-in service that accepts every event routed to it and
// remembers each one by id, durably. It is the troupe counterpart of
// pointing an EventBridge rule at a log group: for wiring checks, tests and
// benchmarks. Because it records every id it has handled, it also tells
// whether the runtime ever handed it the same event twice.
#pragma once

#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "actors/service.hpp"

namespace troupe::builtin {

class sink : public service {
 public:
  handled handle(const event_in& ev) override;
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
  /// "count" → {"distinct": ids handled, "duplicates": ids handled again,
  ///            "by_type": {...}, "first_ms": t, "last_ms": t}
  /// (times are wall clock at handling, this incarnation only)
  /// "latency" → {"count": n, "p50_us": x, "p90_us": x, "p99_us": x,
  ///   "p999_us": x, "max_us": x} (pN: the sorted value at index N% of n) over
  ///   the events whose detail carries "sent_us" (wall clock microseconds
  ///   when the sender made it): from then to the handler, this incarnation.
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  std::unordered_set<std::string> ids_;
  std::uint64_t duplicates_ = 0;
  std::map<std::string, std::uint64_t> by_type_;
  std::int64_t first_ms_ = 0, last_ms_ = 0;
  std::vector<std::int64_t> latencies_us_;
};

/// Registers the built-in services ("sink", "dlq").
void register_builtin(service_registry& registry);

} // namespace troupe::builtin
