// Test helpers for the flight services: building events, delivering them,
// temporary directories and settings from YAML text.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include "actors/flight/log.hpp"
#include "actors/flight/register.hpp"
#include "actors/service.hpp"
#include "cluster/diagnostics.hpp"
#include "wire/envelope.hpp"

namespace troupe::flight::test {

using nlohmann::json;

/// Delivers one event, with a fresh id unless one is given.
inline handled deliver(service& s, const std::string& type, const json& detail, std::string id = {},
                       std::string correlation = {}, std::int64_t time_ms = 1'700'000'000'000) {
  wire::envelope env;
  env.id = id.empty() ? wire::make_uuid() : std::move(id);
  env.source = "test";
  env.detail_type = type;
  env.time_ms = time_ms;
  env.correlation_id = std::move(correlation);
  return s.handle(event_in{env, detail});
}

/// A copy of the only emitted event (safe to bind to a temporary's result);
/// fails the test (by throwing) when there is not exactly one.
inline event_out only_event(const handled& h) {
  if (h.emitted.size() != 1)
    throw std::runtime_error("expected exactly one event, got " + std::to_string(h.emitted.size()) +
                             (h.error.empty() ? "" : " (error: " + h.error + ")"));
  return h.emitted.front();
}

/// Builds a registered service from YAML settings text ("" for none).
inline std::unique_ptr<service> build(const std::string& name, const std::string& settings_yaml,
                                      cluster::diagnostics& diag, const service_context& ctx = {}) {
  service_registry registry;
  register_services(registry);
  const auto* factory = registry.find(name);
  if (!factory)
    throw std::runtime_error("no service " + name);
  const YAML::Node settings =
      settings_yaml.empty() ? YAML::Node(YAML::NodeType::Null) : YAML::Load(settings_yaml);
  return (*factory)(settings, ctx, diag);
}

inline std::unique_ptr<service> build(const std::string& name, const std::string& settings_yaml) {
  cluster::diagnostics diag("test.yaml");
  auto s = build(name, settings_yaml, diag);
  if (!s)
    throw std::runtime_error("bad settings for " + name + ":\n" + diag.to_string());
  return s;
}

/// A fresh directory, removed with everything in it at scope exit.
class temp_dir {
 public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "troupe-flight-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Files directly inside `dir`, sorted.
inline std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Prints a table case by its name when a parameterized test fails (found
/// by ADL through `using test::operator<<;` in each test file).
template <class Case>
auto operator<<(std::ostream& os, const Case& c) -> decltype(c.name, os) {
  return os << c.name;
}

/// Silences the services' log lines for the whole test program.
struct quiet_logs {
  quiet_logs() { set_log_sink([](const std::string&) {}); }
};

} // namespace troupe::flight::test
