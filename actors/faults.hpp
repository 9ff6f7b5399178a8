// Fault injection: a service wrapped so that its deliveries fail as the
// config's `faults` section says (transient failures, crashes, poison
// events, delays, an outage window), to exercise retries, supervision and dead
// letters on the real cluster. The wrapped service never sees a delivery
// that a fault took.
#pragma once

#include <chrono>
#include <memory>
#include <random>

#include "actors/service.hpp"
#include "cluster/config.hpp"
#include "rules/matcher.hpp"

namespace troupe {

class faulty_service : public service {
 public:
  /// `seed` makes a run repeatable.
  faulty_service(std::unique_ptr<service> inner, cluster::fault_spec spec, std::uint64_t seed);

  /// Starts the wrapped service; the outage is timed from the first start.
  void start() override;
  /// Wraps `inner` instead, for a restart: the faults go on as they were.
  void replace(std::unique_ptr<service> inner) { inner_ = std::move(inner); }
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
  /// Throws std::runtime_error for an injected crash.
  handled handle(const event_in& ev) override;
  std::chrono::milliseconds delay_before(const wire::envelope& ev) override;
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

  /// Counts of injected faults, for status.
  nlohmann::json injected() const;

 private:
  std::unique_ptr<service> inner_;
  cluster::fault_spec spec_;
  std::unique_ptr<rules::matcher> poison_;
  std::mt19937_64 rng_;
  std::chrono::steady_clock::time_point started_{};
  std::uint64_t transient_ = 0, crashes_ = 0, poisoned_ = 0, outage_ = 0, delayed_ = 0;
};

} // namespace troupe
