#include "actors/runtime/metrics.hpp"

#include <algorithm>
#include <map>

namespace troupe::runtime {

void rule_metrics::attempt(const delivery& d, std::int64_t now_ms) {
  auto& m = by_rule_[d.rule];
  ++m.attempts;
  if (d.retry.attempt > 1) {
    ++m.retry_attempts;
    return;
  }
  const auto latency = std::max<std::int64_t>(0, now_ms - age_start_ms(d));
  ++m.latency_count;
  m.latency_sum_ms += latency;
  m.latency_max_ms = std::max(m.latency_max_ms, latency);
}

void rule_metrics::succeeded(const std::string& rule) {
  auto& m = by_rule_[rule];
  ++m.invocations;
  ++m.successful_attempts;
}

void rule_metrics::failed(const std::string& rule) {
  auto& m = by_rule_[rule];
  ++m.invocations;
  ++m.failed;
}

nlohmann::json rule_metrics::to_json(const std::function<std::string(const std::string&)>& target_of) const {
  auto rows = nlohmann::json::array();
  const std::map<std::string, target_metrics> sorted(by_rule_.begin(), by_rule_.end());
  for (const auto& [rule, m] : sorted)
    rows.push_back(
        {{"rule", rule},
         {"target", target_of(rule)},
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
}

nlohmann::json to_json(const bus_counters& c) {
  return {{"from_wire", c.from_wire},
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
          {"unencodable", c.unencodable},
          {"asks_refused", c.asks_refused},
          {"pages_read", c.pages_read},
          {"forged", c.forged},
          {"access_refused", c.access_refused}};
}

}  // namespace troupe::runtime
