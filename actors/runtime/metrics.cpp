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
  m.ingestion.observe(static_cast<double>(latency) / 1000);
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

void rule_metrics::handled(const std::string& rule, std::int64_t us) {
  by_rule_[rule].handler.observe(static_cast<double>(us) / 1e6);
}

const std::vector<counter_doc>& bus_counter_docs() {
  static const std::vector<counter_doc> docs{
      {"from_wire", &bus_counters::from_wire, "Events received from peers' streams."},
      {"emitted", &bus_counters::emitted, "Events the services here emitted."},
      {"put", &bus_counters::put, "Events made by PutEvents here."},
      {"matched", &bus_counters::matched, "Events some local rule matched."},
      {"unmatched", &bus_counters::unmatched, "Events no local rule matched."},
      {"deliveries", &bus_counters::deliveries, "Deliveries handed to a local service (every attempt)."},
      {"duplicates", &bus_counters::duplicates, "Events received again and dropped."},
      {"stale", &bus_counters::stale, "Events of an earlier incarnation of their origin, dropped."},
      {"gaps", &bus_counters::gaps, "Events that arrived past a gap in their stream."},
      {"replays_asked", &bus_counters::replays_asked, "Replays asked of origins."},
      {"replays_served", &bus_counters::replays_served, "Replays served to consumers."},
      {"replayed_in", &bus_counters::replayed_in, "Events received in replays."},
      {"expired", &bus_counters::expired, "Events a consumer did not ack within their maximum age."},
      {"permanent_dropped", &bus_counters::permanent_dropped, "Deliveries that failed permanently."},
      {"deferred", &bus_counters::deferred, "Events the gate deferred (too many held)."},
      {"retries", &bus_counters::retries, "Deliveries scheduled for a retry."},
      {"retries_exhausted", &bus_counters::retries_exhausted, "Deliveries out of retries or age."},
      {"dead_lettered", &bus_counters::dead_lettered, "Dead letters sent to a DLQ."},
      {"redriven", &bus_counters::redriven, "Dead letters redriven to a target here."},
      {"redrives_refused", &bus_counters::redrives_refused, "Redrives refused here."},
      {"put_refused", &bus_counters::put_refused, "PutEvents entries refused."},
      {"idempotent_repeats", &bus_counters::idempotent_repeats, "PutEvents entries answered by an earlier event."},
      {"bad_acks", &bus_counters::bad_acks, "Acks refused."},
      {"undecodable", &bus_counters::undecodable, "Events that could not be decoded."},
      {"unencodable", &bus_counters::unencodable, "Events that could not be encoded."},
      {"asks_refused", &bus_counters::asks_refused, "Queries, status requests and reads refused as busy."},
      {"pages_read", &bus_counters::pages_read, "Pages of the store read for audits."},
      {"forged", &bus_counters::forged, "Messages dropped for claiming another sender."},
      {"access_refused", &bus_counters::access_refused, "Requests and entries a client's roles do not allow."},
  };
  return docs;
}

void write_prometheus(observe::exposition& x, const std::string& node, const bus_counters& c, const rule_metrics& m,
                      const std::function<std::string(const std::string&)>& target_of) {
  for (const auto& d : bus_counter_docs()) {
    const auto name = std::string("troupe_bus_") + d.name + "_total";
    x.family(name, "counter", d.help);
    x.sample(name, {{"node", node}}, static_cast<double>(c.*(d.field)));
  }
  const std::map<std::string, target_metrics> sorted(m.all().begin(), m.all().end());
  std::map<std::string, std::string> targets;
  for (const auto& [rule, _] : sorted)
    targets[rule] = target_of(rule);
  struct rule_counter {
    const char* name;
    std::uint64_t target_metrics::*field;
    const char* help;
  };
  static const rule_counter counters[]{
      {"troupe_matched_events_total", &target_metrics::matched, "Events the rule matched here (MatchedEvents)."},
      {"troupe_invocations_total", &target_metrics::invocations,
       "Deliveries to the rule's target that ended, well or for good (Invocations)."},
      {"troupe_invocation_attempts_total", &target_metrics::attempts, "Every attempt (InvocationAttempts)."},
      {"troupe_successful_invocation_attempts_total", &target_metrics::successful_attempts,
       "Attempts that succeeded (SuccessfulInvocationAttempts)."},
      {"troupe_retry_invocation_attempts_total", &target_metrics::retry_attempts,
       "Attempts after the first (RetryInvocationAttempts)."},
      {"troupe_failed_invocations_total", &target_metrics::failed,
       "Deliveries that failed for good (FailedInvocations)."},
      {"troupe_invocations_sent_to_dlq_total", &target_metrics::sent_to_dlq,
       "Dead letters committed for the DLQ (InvocationsSentToDlq)."},
      {"troupe_invocations_failed_to_be_sent_to_dlq_total", &target_metrics::failed_to_dlq,
       "Dead letters that could not be sent (InvocationsFailedToBeSentToDlq)."},
  };
  for (const auto& rc : counters) {
    x.family(rc.name, "counter", rc.help);
    for (const auto& [rule, tm] : sorted)
      x.sample(rc.name, {{"node", node}, {"rule", rule}, {"target", targets[rule]}}, static_cast<double>(tm.*(rc.field)));
  }
  x.family("troupe_ingestion_to_invocation_start_latency_seconds", "histogram",
           "From an event's time (or its redrive) to its first attempt (IngestiontoInvocationStartLatency).");
  for (const auto& [rule, tm] : sorted)
    x.histogram("troupe_ingestion_to_invocation_start_latency_seconds",
                {{"node", node}, {"rule", rule}, {"target", targets[rule]}}, tm.ingestion);
  x.family("troupe_handler_duration_seconds", "histogram", "How long the target's handler ran, per attempt.");
  for (const auto& [rule, tm] : sorted)
    x.histogram("troupe_handler_duration_seconds", {{"node", node}, {"rule", rule}, {"target", targets[rule]}},
                tm.handler);
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
