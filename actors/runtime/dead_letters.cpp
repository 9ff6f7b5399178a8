#include "actors/runtime/dead_letters.hpp"
#include "actors/runtime/error.hpp"

#include "actors/msgpack_json.hpp"
#include "wire/limits.hpp"

namespace troupe::runtime {

namespace {
constexpr std::size_t max_error_message = 4096;
}

bool reserved_source(const std::string& source) {
  return source == cluster::dead_letter_source || source == redrive_source || source == undecodable_source;
}

std::size_t max_dead_letter_detail() {
  return wire::max_entry_bytes - wire::entry_time_bytes - 3 * wire::max_string_bytes;
}

dead_letter dead_letter_of(const answer& a, const std::string& rule_dlq, const std::string& node,
                           std::string exhausted) {
  dead_letter dl;
  dl.dlq = !a.dead_letter_queue.empty() ? a.dead_letter_queue : rule_dlq;
  dl.rule = a.d.rule;
  dl.target = a.d.target;
  dl.node = node;
  dl.error_code = a.error_code;
  dl.error_message = a.error.size() > max_error_message ? a.error.substr(0, max_error_message) + "..." : a.error;
  dl.exhausted_retry_condition = std::move(exhausted);
  dl.retry_attempts = a.d.retry.attempt - 1;
  dl.first_attempt_ms = a.d.retry.first_ms;
  dl.last_attempt_ms = a.at_ms;
  dl.event = *a.d.ev;
  return dl;
}

std::optional<std::string> dead_letter_detail(const dead_letter& dl) {
  for (const bool raw : {false, true}) {
    std::string detail;
    nlohmann::json::to_msgpack(to_detail(dl, raw), detail);
    if (detail.size() <= max_dead_letter_detail() && wire::check_detail(detail))
      return detail;
  }
  return std::nullopt;
}

std::optional<redrive_order> read_redrive(const wire::envelope& ev) {
  if (ev.detail_type != cluster::redrive_type || ev.source != redrive_source)
    return std::nullopt;
  nlohmann::json detail;
  try {
    detail = json_from_msgpack(ev.detail);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (!detail.is_object() || !detail["RULE_ARN"].is_string() || !detail["TARGET_ARN"].is_string())
    return std::nullopt;
  return redrive_order{detail["RULE_ARN"].get<std::string>(), detail["TARGET_ARN"].get<std::string>(),
                       detail.value("dead-letter-id", "?"),
                       detail.contains("event") ? event_from_json(detail["event"])
                                                : error{errc::invalid_event, "event: missing"}};
}

std::optional<std::string> redrive_refusal(const redrive_order& order, const cluster::rule_spec* rule) {
  if (!order.event)
    return "its event is unreadable: " + order.event.err().message;
  if (order.event->source == undecodable_source)
    return std::string("its event could not be decoded when it arrived; only its place is known");
  if (!rule || rule->target != order.target)
    return "rule '" + order.rule + "' with target '" + order.target + "' no longer exists on this node";
  return std::nullopt;
}

std::shared_ptr<wire::envelope> undecodable_stand_in(const stream_key& key, std::uint64_t epoch, std::uint64_t seq,
                                                     std::int64_t now_ms) {
  auto ev = std::make_shared<wire::envelope>();
  ev->id = key.first + "/" + key.second + "/" + std::to_string(epoch) + "/" + std::to_string(seq);
  ev->source = undecodable_source;
  ev->detail_type = key.second;
  ev->time_ms = now_ms;
  ev->origin = key.first;
  ev->epoch = epoch;
  ev->seq = seq;
  ev->detail = std::string("\x80", 1);  // an empty map
  return ev;
}

answer failure_of(std::string target, std::string rule, event_ptr ev, const char* error_code, std::string why,
                  std::int64_t now_ms) {
  answer a;
  a.d = delivery{0, std::move(target), std::move(rule), std::move(ev), nullptr, {}};
  a.status = outcome::permanent;
  a.error_code = error_code;
  a.error = std::move(why);
  a.at_ms = now_ms;
  return a;
}

}  // namespace troupe::runtime
