// The contract between the runtime and a service's domain logic.
//
// A service is a plain object that reacts to one event at a time and says
// what happened: success with the events it emits, a transient failure
// (worth retrying), or a permanent one (retrying cannot help). Throwing is
// a crash: the runtime restarts the service's actor. The runtime wraps each
// service in a CAF actor; the service never sees an actor, a socket or
// another service, and the runtime never knows what the service is about.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/diagnostics.hpp"
#include "wire/envelope.hpp"

namespace YAML {
class Node;
}

namespace troupe {

/// An event handed to a service: the envelope and its decoded detail.
struct event_in {
  const wire::envelope& envelope;
  const nlohmann::json& detail;
};

/// An event a service emits. The runtime fills in id, source, time, origin,
/// epoch, seq, and carries the consumed event's correlation id forward (or
/// uses `correlation_id` when set, for events that start a saga).
struct event_out {
  std::string detail_type;
  nlohmann::json detail;
  std::string correlation_id;
};

enum class outcome { ok, transient, permanent };

/// What a handler did with one event.
struct handled {
  outcome status = outcome::ok;
  std::string error;               // why, when not ok
  std::vector<event_out> emitted;  // only when ok

  static handled ok(std::vector<event_out> events = {}) { return {outcome::ok, {}, std::move(events)}; }
  static handled transient(std::string why) { return {outcome::transient, std::move(why), {}}; }
  static handled permanent(std::string why) { return {outcome::permanent, std::move(why), {}}; }
};

/// Where a service runs: its node and the data directory it may write to.
struct service_context {
  std::string node;
  std::filesystem::path data_dir;    // per node, exists when start() is called
  std::filesystem::path config_dir;  // directory of the config file, for relative paths
};

class service {
 public:
  virtual ~service() = default;

  /// Side effects of starting (directories, files) belong here, not in the
  /// constructor: services are also constructed just to validate a config.
  virtual void start() {}

  /// Reacts to one event. Must be idempotent per event id: the runtime
  /// delivers at least once.
  virtual handled handle(const event_in& ev) = 0;

  /// Answers a read-only query from the control socket (e.g. "bookings"),
  /// as a JSON array of rows. Unknown queries return null.
  virtual nlohmann::json query(const std::string& what, const nlohmann::json& args) const {
    (void)what;
    (void)args;
    return nullptr;
  }
};

/// Builds a service from its settings section. Reports every problem with
/// the settings to `diag` and returns null when there was any.
using service_factory = std::function<std::unique_ptr<service>(
    const YAML::Node& settings, const service_context& ctx, cluster::diagnostics& diag)>;

/// The names the cluster config may use in a node's `services:` list.
class service_registry {
 public:
  void add(std::string name, service_factory factory);
  const service_factory* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::pair<std::string, service_factory>> entries_;
};

} // namespace troupe
