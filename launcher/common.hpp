// What every subcommand of the CLI shares: loading a config with the
// services this build knows, and talking to nodes' control sockets.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/service.hpp"
#include "cluster/config.hpp"
#include "wire/error.hpp"

namespace troupe::cli {

/// The CLI's errors in talking to a cluster (a node's own wire errors,
/// such as no reply in time, come through as wire::errc).
enum class errc {
  no_such_service,  // the config has no node running it
  refused,          // the node answered with an error
  bad_answer,       // the node's answer is not what the command reads
  not_ready,        // nodes that have not answered yet: retryable
  no_key,           // no client of the config whose secret key this user can read
  not_deployable,   // `troupe deploy`: the config or options do not fit the engine
  cannot_write,     // `troupe deploy`: its output directory or a file in it
};

struct errc_codes {
  static constexpr const char* module = "cli";
  static const char* name(int code);
  static bool retryable(int code) { return code == static_cast<int>(errc::not_ready); }
};

} // namespace troupe::cli

TROUPE_ERROR_CODES(troupe::cli, errc, errc_codes);

namespace troupe::cli {

/// The services this build of troupe can run.
const service_registry& registry();

/// Loads and validates `path`; on problems prints every one of them to
/// stderr as file:line:column: reason and returns nullopt.
std::optional<cluster::config> load_config(const std::string& path);

/// Sends a query to `service` on the node hosting it; returns the parsed
/// JSON reply.
result<nlohmann::json> query(const cluster::config& cfg, const std::string& service, const std::string& what,
                             const nlohmann::json& args, std::chrono::milliseconds timeout);

/// Asks one node's trace journal (the control verb `trace`: what is
/// "saga" or "sagas"); returns the parsed JSON reply.
result<nlohmann::json> trace(const cluster::config& cfg, const cluster::node_spec& node, const std::string& what,
                             const nlohmann::json& args, std::chrono::milliseconds timeout);

/// Asks one node for its status.
result<nlohmann::json> status(const cluster::config& cfg, const cluster::node_spec& node,
                              std::chrono::milliseconds timeout);

/// Waits until every node has been seen answering and connected to all its
/// peers (each once, not all in one pass: a lossy link may hold one up).
/// Fails with a message naming the nodes that are not ready.
result<void> wait_ready(const cluster::config& cfg, std::chrono::milliseconds timeout);

} // namespace troupe::cli
