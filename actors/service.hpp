// The contract between the runtime and a service's domain logic.
//
// A service is a plain object that reacts to one event at a time and says
// what happened: success with the events it emits, a transient failure
// (worth retrying), or a permanent one (retrying cannot help). Throwing is
// a crash: the runtime restarts the service's actor. The runtime wraps each
// service in a CAF actor; the service never sees an actor, a socket or
// another service, and the runtime never knows what the service is about.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/diagnostics.hpp"
#include "wire/envelope.hpp"

namespace YAML {
class Node;
}

namespace troupe {

/// The durable state changes one handler makes. The runtime commits them
/// in one transaction with the completion of the event that was handled and
/// the events the handler emitted, so a redelivered event can never have a
/// second effect; they are dropped unless the handler returns ok. Tables and
/// keys are the service's own; values are JSON.
class state_changes {
 public:
  struct change {
    std::string table;
    std::string key;
    std::optional<nlohmann::json> value;  // nullopt: erase
  };

  void put(std::string table, std::string key, nlohmann::json value) {
    changes_.push_back({std::move(table), std::move(key), std::move(value)});
  }
  void erase(std::string table, std::string key) {
    changes_.push_back({std::move(table), std::move(key), std::nullopt});
  }
  const std::vector<change>& changes() const { return changes_; }
  std::vector<change> take() { return std::move(changes_); }
  bool empty() const { return changes_.empty(); }

 private:
  std::vector<change> changes_;
};

/// An event handed to a service: the envelope, its decoded detail, and
/// where the handler records every change it makes to its state.
struct event_in {
  const wire::envelope& envelope;
  const nlohmann::json& detail;
  state_changes& state;
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
  bool sync_writes = true;           // the node's durability is fsync: files a service writes are flushed too
};

class service {
 public:
  virtual ~service() = default;

  /// Side effects of starting (directories, files) belong here, not in the
  /// constructor: services are also constructed just to validate a config.
  virtual void start() {}

  /// Rebuilds the in-memory state from what handlers recorded: called once
  /// per stored row, in key order per table, before start() and before any
  /// event. A service keeps its state in memory for speed, records every
  /// change through `event_in::state`, and so survives a `kill -9`.
  virtual void restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
    (void)table;
    (void)key;
    (void)value;
  }

  /// Reacts to one event. Must be idempotent per event id: the runtime
  /// delivers at least once.
  virtual handled handle(const event_in& ev) = 0;

  /// How long the runtime waits before handing `ev` to handle(): zero for
  /// real services. Fault injection uses it to play a slow handler without
  /// blocking the node's other actors; the wait counts against the rule's
  /// handler timeout.
  virtual std::chrono::milliseconds delay_before(const wire::envelope& ev) {
    (void)ev;
    return {};
  }

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

/// The detail-types a service declares as its own, so that a keyed cluster
/// can refuse a node that publishes another's: `emits`, those its handler
/// returns (no producer may put them), and `accepts`, those producers put
/// to its node and no other (a saga's first event, say). A detail-type
/// nobody declares may come from any node.
struct service_traits {
  std::vector<std::string> emits;
  std::vector<std::string> accepts;
};

/// The names the cluster config may use in a node's `services:` list.
class service_registry {
 public:
  void add(std::string name, service_factory factory, service_traits traits = {});
  const service_factory* find(const std::string& name) const;
  /// The traits `name` was added with; null for an unknown name.
  const service_traits* traits(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  struct entry {
    std::string name;
    service_factory factory;
    service_traits traits;
  };
  std::vector<entry> entries_;
};

} // namespace troupe
