#include "actors/builtin/sink.hpp"

#include <yaml-cpp/yaml.h>

namespace troupe::builtin {

handled sink::handle(const event_in& ev) {
  const auto now = wire::now_ms();
  if (first_ms_ == 0)
    first_ms_ = now;
  last_ms_ = now;
  const auto& e = ev.envelope;
  if (!ids_.insert(e.id).second) {
    // Redelivery must never reach a handler twice: record that it did.
    ++duplicates_;
    ev.state.put("meta", "duplicates", duplicates_);
    return handled::ok();
  }
  ++by_type_[e.detail_type];
  ev.state.put("events", e.id, {{"type", e.detail_type}, {"origin", e.origin}, {"seq", e.seq}});
  return handled::ok();
}

void sink::restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
  if (table == "events") {
    ids_.insert(key);
    ++by_type_[value.value("type", "")];
  } else if (table == "meta" && key == "duplicates") {
    duplicates_ = value.get<std::uint64_t>();
  }
}

nlohmann::json sink::query(const std::string& what, const nlohmann::json&) const {
  if (what != "count")
    return nullptr;
  return {{"distinct", ids_.size()}, {"duplicates", duplicates_}, {"by_type", by_type_},
          {"first_ms", first_ms_},   {"last_ms", last_ms_}};
}

void register_builtin(service_registry& registry) {
  registry.add("sink", [](const YAML::Node& settings, const service_context&, cluster::diagnostics& diag)
                           -> std::unique_ptr<service> {
    if (settings && !settings.IsNull() && !(settings.IsMap() && settings.size() == 0)) {
      diag.add(settings, "services.sink: takes no settings");
      return nullptr;
    }
    return std::make_unique<sink>();
  });
}

} // namespace troupe::builtin
