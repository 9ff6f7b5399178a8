#include "actors/dead_letter.hpp"
#include "actors/runtime/error.hpp"

#include <stdexcept>

#include "actors/msgpack_json.hpp"

namespace troupe {

namespace {

using json = nlohmann::json;

/// Reads the fields of one JSON object, remembering the first problem.
class fields {
 public:
  fields(const json& j, std::string prefix) : j_(j), prefix_(std::move(prefix)) {
    if (!j_.is_object())
      error_ = prefix_ + ": must be an object";
  }

  std::string text(const char* name, bool required = true) {
    const auto* v = find(name, required);
    if (!v)
      return {};
    if (!v->is_string())
      return fail(name, "must be a string"), std::string();
    return v->get<std::string>();
  }

  std::int64_t integer(const char* name, bool required = true) {
    const auto* v = find(name, required);
    if (!v)
      return 0;
    if (!v->is_number_integer())
      return fail(name, "must be an integer"), 0;
    return v->get<std::int64_t>();
  }

  const json* find(const char* name, bool required) {
    if (!error_.empty())
      return nullptr;
    auto it = j_.find(name);
    if (it == j_.end() || it->is_null()) {
      if (required)
        fail(name, "missing");
      return nullptr;
    }
    return &*it;
  }

  void fail(const char* name, const std::string& what) {
    if (error_.empty())
      error_ = prefix_ + "." + name + ": " + what;
  }

  const std::string& error() const { return error_; }

 private:
  const json& j_;
  std::string prefix_;
  std::string error_;
};

} // namespace

json event_to_json(const wire::envelope& ev, bool raw_detail) {
  json j = {{"id", ev.id},
            {"source", ev.source},
            {"detail-type", ev.detail_type},
            {"time", wire::format_time(ev.time_ms)},
            {"time_ms", ev.time_ms},
            {"resources", ev.resources},
            {"origin", ev.origin},
            {"epoch", ev.epoch},
            {"seq", ev.seq},
            {"correlation_id", ev.correlation_id},
            {"causation_id", ev.causation_id}};
  try {
    if (raw_detail)
      throw std::runtime_error("kept as its bytes");
    auto detail = json_from_msgpack(ev.detail);
    (void)detail.dump();  // MessagePack strings need not be UTF-8; JSON's must
    j["detail"] = std::move(detail);
  } catch (const std::exception&) {
    static const char* digits = "0123456789abcdef";
    std::string hex;
    for (unsigned char c : ev.detail) {
      hex += digits[c >> 4];
      hex += digits[c & 15];
    }
    j["detail"] = nullptr;
    j["detail-msgpack-hex"] = hex;
  }
  return j;
}

result<wire::envelope> event_from_json(const json& j) {
  fields f(j, "event");
  wire::envelope ev;
  ev.id = f.text("id");
  ev.source = f.text("source");
  ev.detail_type = f.text("detail-type");
  ev.time_ms = f.integer("time_ms");
  ev.origin = f.text("origin", false);
  ev.epoch = static_cast<std::uint64_t>(f.integer("epoch", false));
  ev.seq = static_cast<std::uint64_t>(f.integer("seq", false));
  ev.correlation_id = f.text("correlation_id", false);
  ev.causation_id = f.text("causation_id", false);
  if (const auto* r = f.find("resources", false)) {
    if (!r->is_array())
      f.fail("resources", "must be an array of strings");
    else
      for (const auto& x : *r) {
        if (!x.is_string()) {
          f.fail("resources", "must be an array of strings");
          break;
        }
        ev.resources.push_back(x.get<std::string>());
      }
  }
  if (const auto* raw = f.find("detail-msgpack-hex", false)) {
    const auto nibble = [](char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; };
    const auto hex = raw->is_string() ? raw->get<std::string>() : std::string("?");
    if (hex.size() % 2 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
      f.fail("detail-msgpack-hex", "must be lowercase hex digits, two per byte");
    else
      for (std::size_t i = 0; i < hex.size(); i += 2)
        ev.detail += static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  } else if (const auto* d = f.find("detail", true)) {
    if (!d->is_object())
      f.fail("detail", "must be an object");
    else
      json::to_msgpack(*d, ev.detail);
  }
  if (!f.error().empty())
    return error{runtime::errc::invalid_event, f.error()};
  return ev;
}

json to_detail(const dead_letter& d, bool raw_detail) {
  return {{"dead-letter-queue", d.dlq},
          {"RULE_ARN", d.rule},
          {"TARGET_ARN", d.target},
          {"NODE", d.node},
          {"ERROR_CODE", d.error_code},
          {"ERROR_MESSAGE", d.error_message},
          {"EXHAUSTED_RETRY_CONDITION", d.exhausted_retry_condition.empty() ? "none" : d.exhausted_retry_condition},
          {"RETRY_ATTEMPTS", d.retry_attempts},
          {"FIRST_ATTEMPT_MS", d.first_attempt_ms},
          {"LAST_ATTEMPT_MS", d.last_attempt_ms},
          {"event", event_to_json(d.event, raw_detail)}};
}

result<dead_letter> dead_letter_from_detail(const json& detail) {
  fields f(detail, "detail");
  dead_letter d;
  d.dlq = f.text("dead-letter-queue");
  d.rule = f.text("RULE_ARN");
  d.target = f.text("TARGET_ARN");
  d.node = f.text("NODE");
  d.error_code = f.text("ERROR_CODE");
  d.error_message = f.text("ERROR_MESSAGE", false);
  d.exhausted_retry_condition = f.text("EXHAUSTED_RETRY_CONDITION");
  if (d.exhausted_retry_condition == "none")
    d.exhausted_retry_condition.clear();
  d.retry_attempts = static_cast<int>(f.integer("RETRY_ATTEMPTS"));
  d.first_attempt_ms = f.integer("FIRST_ATTEMPT_MS");
  d.last_attempt_ms = f.integer("LAST_ATTEMPT_MS");
  if (!f.error().empty())
    return error{runtime::errc::invalid_event, f.error()};
  const auto* ev = f.find("event", true);
  if (!ev)
    return error{runtime::errc::invalid_event, f.error()};
  auto e = event_from_json(*ev);
  if (!e)
    return error{runtime::errc::invalid_event, "detail." + e.err().message};
  d.event = std::move(*e);
  return d;
}

} // namespace troupe
