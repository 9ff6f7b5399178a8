#include "actors/builtin/sink.hpp"

#include "actors/builtin/dlq.hpp"

#include <algorithm>
#include <chrono>

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
  if (auto sent = ev.detail.find("sent_us"); sent != ev.detail.end() && sent->is_number_integer()) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    latencies_us_.push_back(now_us - sent->get<std::int64_t>());
  }
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
  if (what == "latency") {
    auto sorted = latencies_us_;
    std::sort(sorted.begin(), sorted.end());
    const auto at = [&](double p) -> std::int64_t {
      return sorted.empty() ? 0 : sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(p * sorted.size()))];
    };
    return {{"count", sorted.size()}, {"p50_us", at(0.50)},  {"p90_us", at(0.90)},
            {"p99_us", at(0.99)},     {"p999_us", at(0.999)}, {"max_us", sorted.empty() ? 0 : sorted.back()}};
  }
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
  register_dlq(registry);
}

} // namespace troupe::builtin
