#include "actors/builtin/dlq.hpp"

#include <set>

#include <algorithm>

#include <yaml-cpp/yaml.h>

#include "actors/dead_letter.hpp"
#include "cluster/config.hpp"

namespace troupe::builtin {

using json = nlohmann::json;

handled dlq::handle(const event_in& ev) {
  const auto& type = ev.envelope.detail_type;
  if (type == cluster::dead_letter_type)
    return take(ev);
  if (type == "DeadLetterRedriveRequested")
    return redrive(ev, false);
  if (type == "DeadLetterPurgeRequested")
    return redrive(ev, true);
  return handled::permanent("dlq does not handle " + type + " events");
}

handled dlq::take(const event_in& ev) {
  const auto& id = ev.envelope.id;
  if (letters_.count(id))
    return handled::ok();  // the same dead letter again
  // Checked in full, so that a redrive can rebuild the event later.
  auto letter = dead_letter_from_detail(ev.detail);
  if (!letter)
    return handled::permanent(letter.err().message);
  json record = ev.detail;
  record.erase("dead-letter-queue");
  record["id"] = id;
  record["RECEIVED_MS"] = ev.envelope.time_ms;
  ev.state.put("letters", id, record);
  letters_.emplace(id, std::move(record));
  return handled::ok();
}

handled dlq::redrive(const event_in& ev, bool purge) {
  const auto ids = ev.detail.find("ids");
  if (ids == ev.detail.end() || !ids->is_array())
    return handled::permanent("detail.ids: must be an array of dead-letter ids");
  std::vector<event_out> out;
  for (const auto& x : *ids) {
    if (!x.is_string())
      return handled::permanent("detail.ids: must be an array of dead-letter ids");
    auto it = letters_.find(x.get<std::string>());
    if (it == letters_.end())
      continue;  // gone already: redriven or purged by an earlier command
    if (!purge) {
      const auto& r = it->second;
      out.push_back({cluster::redrive_type,
                     {{"dead-letter-id", it->first},
                      {"NODE", r.value("NODE", "")},
                      {"RULE_ARN", r.value("RULE_ARN", "")},
                      {"TARGET_ARN", r.value("TARGET_ARN", "")},
                      {"event", r.at("event")}},
                     r.at("event").value("correlation_id", "")});
    }
    ev.state.erase("letters", it->first);
    letters_.erase(it);
  }
  return handled::ok(std::move(out));
}

void dlq::restore(const std::string& table, const std::string& key, const json& value) {
  if (table == "letters")
    letters_[key] = value;
}

json dlq::query(const std::string& what, const json& given) const {
  const json args = given.is_object() ? given : json::object();
  if (what == "count")
    return {{"letters", letters_.size()}};
  if (what == "show") {
    auto it = letters_.find(args.value("id", ""));
    return it == letters_.end() ? json(nullptr) : it->second;
  }
  if (what == "correlated") {
    // The letters of these sagas (correlation ids), oldest first, at most
    // one a saga: what stopped it.
    std::set<std::string> wanted;
    if (const auto ids = args.find("ids"); ids != args.end() && ids->is_array())
      for (const auto& id : *ids)
        if (id.is_string())
          wanted.insert(id.get<std::string>());
    auto rows = json::array();
    for (const auto& [id, r] : letters_) {
      const auto& ev = r.value("event", json::object());
      auto it = wanted.find(ev.value("correlation_id", ""));
      if (it == wanted.end())
        continue;
      rows.push_back({{"correlation_id", *it}, {"id", id}, {"RULE_ARN", r.value("RULE_ARN", "")},
                      {"TARGET_ARN", r.value("TARGET_ARN", "")}, {"ERROR_CODE", r.value("ERROR_CODE", "")},
                      {"ERROR_MESSAGE", r.value("ERROR_MESSAGE", "")}});
      wanted.erase(it);
      if (wanted.empty() || static_cast<std::int64_t>(rows.size()) >= max_page)
        break;
    }
    return rows;
  }
  if (what != "list")
    return nullptr;
  const auto want = [&](const json& r, const char* arg, const char* field) {
    const auto a = args.find(arg);
    return a == args.end() || !a->is_string() || a->get<std::string>().empty() || r.value(field, "") == *a;
  };
  // A page at a time: a reply must stay well under the control socket's limit.
  const auto limit = std::clamp<std::int64_t>(args.value("limit", max_page), 1, max_page);
  const auto after = args.value("after", std::string());
  auto rows = json::array();
  for (auto it = after.empty() ? letters_.begin() : letters_.upper_bound(after);
       it != letters_.end() && static_cast<std::int64_t>(rows.size()) < limit; ++it) {
    const auto& r = it->second;
    if (want(r, "rule", "RULE_ARN") && want(r, "target", "TARGET_ARN") && want(r, "error_code", "ERROR_CODE"))
      rows.push_back(r);
  }
  return rows;
}

void register_dlq(service_registry& registry) {
  registry.add(cluster::dlq_service, [](const YAML::Node& settings, const service_context&,
                                         cluster::diagnostics& diag) -> std::unique_ptr<service> {
    if (settings && !settings.IsNull() && !(settings.IsMap() && settings.size() == 0)) {
      diag.add(settings, "services.dlq: takes no settings");
      return nullptr;
    }
    return std::make_unique<dlq>();
  }, {{cluster::redrive_type}, {"DeadLetterRedriveRequested", "DeadLetterPurgeRequested"}});
}

} // namespace troupe::builtin
