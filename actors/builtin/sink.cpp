#include "actors/builtin/sink.hpp"

#include <yaml-cpp/yaml.h>

namespace troupe::builtin {

handled sink::handle(const event_in& ev) {
  const auto now = wire::now_ms();
  if (total_ == 0)
    first_ms_ = now;
  last_ms_ = now;
  ++total_;
  ++by_type_[ev.envelope.detail_type];
  return handled::ok();
}

nlohmann::json sink::query(const std::string& what, const nlohmann::json&) const {
  if (what != "count")
    return nullptr;
  return {{"total", total_}, {"by_type", by_type_}, {"first_ms", first_ms_}, {"last_ms", last_ms_}};
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
