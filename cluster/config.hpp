// The cluster config: one YAML file that describes every node, where its
// endpoints are, which services it hosts, and the rules that route events
// to those services.
//
// Loading validates everything before anything starts and reports every
// problem as `file:line:column: reason`. Service settings stay YAML: the
// framework does not know what a service is about, so each service's own
// factory checks its section through the callback given to `load`.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "cluster/access.hpp"
#include "cluster/diagnostics.hpp"
#include "cluster/gateway.hpp"
#include "cluster/hosts.hpp"

namespace troupe::cluster {

struct node_spec {
  std::string name;
  std::string host;               // "local" unless the config says otherwise
  // The ZeroMQ endpoints of its PUB and ROUTER sockets as peers and clients
  // dial them (`endpoints:`, or its host's address and `ports:`).
  std::string pub;
  std::string control;
  // As the node binds them: the same as above with `endpoints:`; with
  // `ports:`, on its host's bind address (cluster/hosts.hpp).
  std::string pub_bind;
  std::string control_bind;
  std::vector<std::string> services;
  std::filesystem::path data_dir; // absolute
  std::string durability = "os";  // fsync, os or none
  // CurveZMQ: empty in an open cluster (cluster/access.hpp).
  std::string public_key;
  secret_key_source secret;
  // The detail-types it may originate, when the config narrows what its
  // services declare.
  std::optional<std::vector<std::string>> emits;
  // Where it serves Prometheus's /metrics over HTTP, as IP:PORT (empty:
  // nowhere): `metrics:` in `endpoints`, or a port in `ports`.
  std::string metrics;
  std::string metrics_bind;  // as it binds it (the host's bind address in `ports`)
};

// The optional `observability` section: what `troupe trace` and `troupe
// sagas` read. Each node journals the events it originates and the
// attempts of its deliveries, keyed by correlation id, and keeps a record
// for `trace_retention` and at most `trace_records` of them (0: journal
// nothing). A saga has ended once one of its events has a `terminal`
// detail-type.
struct observability_spec {
  std::vector<std::string> terminal;
  std::chrono::milliseconds trace_retention{24LL * 3600 * 1000};
  long long trace_records = 1000000;
};

// A rule target's retry policy, as EventBridge's: at most
// `maximum_retry_attempts` retries of a delivery that failed transiently,
// each after an exponential backoff with full jitter between base and cap,
// and never past `maximum_event_age` since the event was made. The age also
// bounds how long the origin keeps an event that a consumer has not acked.
// A handler that has not answered within `handler_timeout` of being handed
// the delivery failed transiently (TIMEOUT).
struct retry_policy {
  int maximum_retry_attempts = 185;                          // 0 to 185
  std::chrono::milliseconds maximum_event_age{86400 * 1000};  // 60 s to 24 h
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{60000};
  std::chrono::milliseconds handler_timeout{30000};          // up to 900 s
};

/// The event a node emits for a delivery that failed for good, and the
/// event a DLQ emits to send one back to its target. Their routing is the
/// runtime's own (rules named `troupe.*`, made from `dead-letter-queue`).
inline constexpr const char* dead_letter_source = "troupe.runtime";
inline constexpr const char* dead_letter_type = "DeadLetter";
inline constexpr const char* redrive_type = "DeadLetterRedriven";
inline constexpr const char* dlq_command_source = "troupe.cli";
inline constexpr const char* dlq_service = "dlq";

/// Exponential backoff with full jitter: uniform in
/// [0, min(cap, base * 2^attempt)], attempt counting from 0.
std::chrono::milliseconds full_jitter(std::chrono::milliseconds base, std::chrono::milliseconds cap, int attempt,
                                      std::mt19937_64& rng);

struct rule_spec {
  std::string name;
  std::string pattern_json;  // the EventBridge pattern as JSON text
  std::string target;        // service name
  retry_policy retry;
  // The DLQ service that gets this target's dead letters; empty: none, a
  // delivery that failed for good is dropped (and counted).
  std::string dead_letter_queue;
  bool internal = false;     // made by the runtime, not written in the file
  // The detail-types the pattern pins (it matches no other); nullopt when
  // it may match any.
  std::optional<std::vector<std::string>> detail_types;
  int line = 0;              // where the rule starts in the file
};

// How `troupe launch` restarts a node that dies: exponential backoff with
// full jitter between base and cap, and at most `max_restarts` restarts of
// one node within `within` before the launcher gives up on it (OTP's
// restart intensity). Seconds in the file, rounded up to milliseconds here.
struct supervision_spec {
  int max_restarts = 5;
  std::chrono::milliseconds within{30000};
  std::chrono::milliseconds backoff_base{100};
  std::chrono::milliseconds backoff_cap{5000};
};

// Faults injected into one service's handler, to exercise the failure
// paths: each delivery fails transiently with probability `transient`,
// makes the handler throw with probability `crash`, fails permanently when
// the event matches the EventBridge pattern `poison`, and fails
// transiently during the outage (from `outage_after` to `outage_after +
// outage_for` after the node started), and waits `delay` before handling a
// delivery with probability `delay_probability`.
struct fault_spec {
  double transient = 0;
  double crash = 0;
  std::chrono::milliseconds delay{0};
  double delay_probability = 1;
  std::string poison_json;  // empty: no poison
  std::chrono::milliseconds outage_after{0}, outage_for{0};
  // The dice's seed, so that a run is repeatable; none: a fresh one each start.
  std::optional<std::uint64_t> seed;
};

struct config {
  std::string file;                 // as given
  std::filesystem::path dir;        // directory of the file, absolute
  std::string cluster;              // cluster name
  std::filesystem::path data_dir;   // absolute
  std::vector<host_spec> hosts;     // empty when the file has no `hosts`
  std::vector<node_spec> nodes;
  std::vector<rule_spec> rules;
  YAML::Node services;              // settings per service name (a map, may be null)
  supervision_spec supervision;     // defaults when the file has no `supervision`
  std::map<std::string, fault_spec> faults;  // by service; none unless the file has `faults`
  std::vector<client_spec> clients;  // who else may connect, with their roles
  std::optional<gateway_spec> gateway;  // none unless the file has `gateway`
  observability_spec observability;

  /// Whether the nodes have keys (then CurveZMQ is on every socket).
  bool secure() const { return !nodes.empty() && !nodes.front().public_key.empty(); }
  const client_spec* find_client(const std::string& name) const;

  const node_spec* find_node(const std::string& name) const;
  const host_spec* find_host(const std::string& name) const;
  /// The nodes whose `host` is `name`, in the file's order.
  std::vector<const node_spec*> nodes_on(const std::string& host) const;
  /// The hosts the nodes name, in the order they first appear.
  std::vector<std::string> host_names() const;
  /// The node hosting `service`, or null.
  const node_spec* node_hosting(const std::string& service) const;
  /// How long the origin keeps an event of `detail_type` that a consumer has
  /// not acked: the longest maximum-event-age of the rules that may route
  /// it, or 24 h when none does.
  std::chrono::milliseconds event_age_of(const std::string& detail_type) const;
  /// The settings section of `service` (a null node when absent).
  YAML::Node settings_of(const std::string& service) const;
};

/// Called for every service a node lists; returns false for an unknown
/// name, and reports problems with its settings to `diag`.
using service_check =
    std::function<bool(const std::string& name, const YAML::Node& settings, diagnostics& diag)>;

/// A config file larger than this is refused, unread past it.
inline constexpr std::size_t max_config_bytes = 1 << 20;

/// Reads and validates `path`. On any problem returns nullopt and leaves
/// every problem in `diag`.
std::optional<config> load(const std::string& path, const service_check& check, diagnostics& diag);

/// Same, from YAML text (tests); `file` names it in the diagnostics.
std::optional<config> load_text(const std::string& text, const std::string& file,
                                const std::filesystem::path& dir, const service_check& check,
                                diagnostics& diag);

/// Converts a YAML node to JSON text: quoted scalars stay strings, plain
/// ones follow YAML's core schema, so a JSON pattern pasted into YAML reads
/// as the same JSON.
std::string yaml_to_json(const YAML::Node& node);

} // namespace troupe::cluster
