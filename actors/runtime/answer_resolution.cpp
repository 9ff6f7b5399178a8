#include "actors/runtime/answer_resolution.hpp"

#include "actors/runtime/retry_schedule.hpp"
#include "actors/runtime/trace_journal.hpp"
#include "wire/limits.hpp"

namespace troupe::runtime {

const cluster::retry_policy& answer_resolver::policy_of(const std::string& rule) const {
  static const cluster::retry_policy fallback;
  const auto* r = rule_of_(rule);
  return r ? r->retry : fallback;
}

dead_letter answer_resolver::dead_letter_for(const answer& a, std::string exhausted) const {
  const auto* rule = rule_of_(a.d.rule);
  return dead_letter_of(a, rule ? rule->dead_letter_queue : "", node_, std::move(exhausted));
}

void answer_resolver::send_dead_letter(const dead_letter& dl, commit_batch& out) {
  auto& m = metrics_.of(dl.rule);
  const auto& ev = dl.event;
  log_.error("[service={} rule={} corr={} event={}] failed for good after {} attempt(s): {} ({}){}", dl.target,
             dl.rule, ev.correlation_id, ev.id, dl.retry_attempts + 1, dl.error_code,
             dl.exhausted_retry_condition.empty() ? "not retried" : dl.exhausted_retry_condition,
             dl.dlq.empty() ? "; no DLQ, dropped" : "; to the DLQ");
  if (dl.dlq.empty())
    return;
  auto detail = dead_letter_detail(dl);
  if (!detail) {
    ++m.failed_to_dlq;
    log_.error("[service={} rule={} corr={} event={}] the dead letter is more than an event may hold; not sent to "
               "the DLQ", dl.target, dl.rule, ev.correlation_id, ev.id);
    return;
  }
  ++m.sent_to_dlq;
  ++counters_.dead_lettered;
  out.events.push_back(make_event(cluster::dead_letter_source, cluster::dead_letter_type, std::move(*detail),
                                  ev.correlation_id, ev.id));
}

void answer_resolver::record(const answer& a, store::trace_row::kind_t how, std::int64_t due_ms,
                             commit_batch& out) {
  if (journal_)
    out.traces.push_back(attempt_record(a, how, due_ms));
}

void answer_resolver::failed_for_good(answer& a, const char* exhausted, commit_batch& out) {
  record(a, store::trace_row::failed, 0, out);
  metrics_.failed(a.d.rule);
  ++(a.status == outcome::permanent ? counters_.permanent_dropped : counters_.retries_exhausted);
  send_dead_letter(dead_letter_for(a, exhausted), out);
  if (a.d.inbox_id)
    out.done.push_back({a.d.inbox_id, a.d.target, {}});
}

std::optional<std::string> answer_resolver::emit(answer& a, commit_batch& out) {
  const auto first = out.events.size();
  std::optional<std::string> problem;
  const bool encoded = a.details.size() == a.events.size();
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    auto& e = a.events[i];
    std::string detail;
    if (encoded) {
      detail = std::move(a.details[i]);
    } else if (!e.detail.is_object()) {
      problem = e.detail_type + ": its detail is not an object";
      break;
    } else {
      nlohmann::json::to_msgpack(e.detail, detail);
    }
    auto ev = make_event("troupe." + a.d.target, e.detail_type, std::move(detail),
                         e.correlation_id.empty() ? a.d.ev->correlation_id : e.correlation_id, a.d.ev->id);
    // What a peer would refuse is never stored: the answer fails instead.
    // (The service runner checked the details it encoded, with this source
    // and correlation id.)
    if (auto p = encoded ? wire::entry_problem{}
                         : wire::check_entry({ev->source, ev->detail_type, ev->detail, ev->correlation_id, &ev->resources})) {
      problem = e.detail_type + ": " + p.message;
      break;
    }
    out.events.push_back(std::move(ev));
  }
  if (problem) {
    out.events.resize(first);
    return problem;
  }
  counters_.emitted += out.events.size() - first;
  return std::nullopt;
}

void answer_resolver::resolve(answer& a, std::int64_t now_ms, commit_batch& out) {
  if (a.status == outcome::ok) {
    if (auto problem = emit(a, out)) {
      ++counters_.unencodable;
      log_.error("[service={} rule={} corr={} event={}] emitted an event that cannot be sent: {}", a.d.target,
                 a.d.rule, a.d.ev->correlation_id, a.d.ev->id, *problem);
      a.status = outcome::permanent;
      a.error_code = invalid_event_code;
      a.error = "the handler emitted an event that cannot be sent: " + *problem;
      a.events.clear();
      a.changes.clear();
    } else {
      metrics_.succeeded(a.d.rule);
      record(a, store::trace_row::ok, 0, out);
      if (a.d.inbox_id || !a.changes.empty())
        out.done.push_back({a.d.inbox_id, a.d.target, std::move(a.changes)});
      return;
    }
  }
  if (a.status == outcome::permanent) {
    failed_for_good(a, "", out);
    return;
  }
  const auto next = next_retry(policy_of(a.d.rule), a.d.retry, age_start_ms(a.d), now_ms, !a.not_run, rng_);
  if (!next.delay) {
    failed_for_good(a, next.exhausted, out);
    return;
  }
  // The retry is recorded in the inbox (attempt, due time) before it is
  // scheduled: a node that dies meanwhile still retries it when due. A
  // delivery its restarting service never ran keeps its attempt.
  record(a, store::trace_row::retry, now_ms + next.delay->count(), out);
  auto d = std::move(a.d);
  if (!a.not_run)
    ++d.retry.attempt;
  ++counters_.retries;
  d.retry.due_ms = now_ms + next.delay->count();
  d.hold = nullptr;
  if (d.inbox_id == 0)
    out.parked.push_back(std::move(d));  // a held event's: into the inbox, so that its stream moves on
  else
    out.rescheduled.push_back(std::move(d));
}

}  // namespace troupe::runtime
