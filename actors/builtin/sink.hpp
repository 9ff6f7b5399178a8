// `sink`: a built-in service that accepts every event routed to it and
// counts them, per detail-type. It is the troupe counterpart of pointing an
// EventBridge rule at a log group: for wiring checks, tests and benchmarks.
#pragma once

#include <map>
#include <string>

#include "actors/service.hpp"

namespace troupe::builtin {

class sink : public service {
 public:
  handled handle(const event_in& ev) override;
  /// "count" → {"total": n, "by_type": {...}, "first_ms": t, "last_ms": t}
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  std::uint64_t total_ = 0;
  std::map<std::string, std::uint64_t> by_type_;
  std::int64_t first_ms_ = 0, last_ms_ = 0;  // wall clock at handling
};

/// Registers the built-in services ("sink").
void register_builtin(service_registry& registry);

} // namespace troupe::builtin
