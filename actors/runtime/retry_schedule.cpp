#include "actors/runtime/retry_schedule.hpp"

namespace troupe::runtime {

retry_decision next_retry(const cluster::retry_policy& p, const store::retry_state& r, std::int64_t age_start_ms,
                          std::int64_t now_ms, bool spent, std::mt19937_64& rng) {
  const auto retries_done = r.attempt - 1;
  if (spent && retries_done >= p.maximum_retry_attempts)
    return {std::nullopt, exhausted_attempts};
  const auto delay = cluster::full_jitter(p.backoff_base, p.backoff_cap, retries_done, rng);
  // Given up when the retry would start past the maximum age.
  if (now_ms + delay.count() - age_start_ms > p.maximum_event_age.count())
    return {std::nullopt, exhausted_age};
  return {delay, ""};
}

}  // namespace troupe::runtime
