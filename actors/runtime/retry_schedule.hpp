// When a failed delivery is tried again, under its rule's retry policy
// (EventBridge's: a number of retries and a maximum event age, with
// exponential backoff and full jitter between attempts).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "cluster/config.hpp"
#include "store/node_store.hpp"

namespace troupe::runtime {

inline constexpr const char* exhausted_attempts = "MaximumRetryAttempts";
inline constexpr const char* exhausted_age = "MaximumEventAgeInSeconds";

/// A retry `delay` from now, or none, with `exhausted` naming the
/// condition EventBridge puts on the dead letter.
struct retry_decision {
  std::optional<std::chrono::milliseconds> delay;
  const char* exhausted = "";
};

/// The next try of a delivery that just failed on attempt `r.attempt`,
/// whose age starts at `age_start_ms`. One that was not run (`spent`
/// false: its service was restarting) is bound by its age alone.
retry_decision next_retry(const cluster::retry_policy& p, const store::retry_state& r, std::int64_t age_start_ms,
                          std::int64_t now_ms, bool spent, std::mt19937_64& rng);

}  // namespace troupe::runtime
