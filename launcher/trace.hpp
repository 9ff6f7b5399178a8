// `troupe trace` and `troupe sagas`: a saga seen whole, assembled from every
// node's trace journal (actors/runtime/trace_journal.hpp) over the control
// sockets, from any host that can reach them; a node that does not answer
// is named, and what it alone knows is missing.
//
// The dashboard (launcher/dashboard.cpp) serves the same JSON.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/config.hpp"

namespace troupe::cli {

/// What every node answered to one request, and why the others did not.
struct fan_out {
  std::map<std::string, nlohmann::json> answers;    // by node
  std::map<std::string, std::string> unreachable;   // by node: why
};

/// Asks every node's trace journal at once.
fan_out ask_every_node(const cluster::config& cfg, const std::string& what, const nlohmann::json& args,
                       std::chrono::milliseconds timeout);

/// One saga, whole: its events in causal order (each under its cause, with
/// its node, time, hop latency, and the deliveries it caused with every
/// attempt), what waits in inboxes, its dead letters, and the nodes that
/// did not answer. `found` is false when no node knows the id.
nlohmann::json collect_saga(const cluster::config& cfg, const std::string& id, std::chrono::milliseconds timeout);

/// The saga as a causation tree with a timeline, for a terminal.
std::string render_saga(const nlohmann::json& saga);

struct sagas_options {
  std::optional<std::chrono::milliseconds> stuck;  // only sagas quiet this long and not ended
  std::size_t limit = 20;                          // the newest at most
  std::chrono::milliseconds since{24LL * 3600 * 1000};  // only sagas with an event since
};

/// Recent sagas, or the stuck ones with where each waits: {sagas: [...],
/// nodes: {answered, unreachable}, terminal: [...], examined, truncated}.
nlohmann::json collect_sagas(const cluster::config& cfg, const sagas_options& o, std::chrono::milliseconds timeout);

std::string render_sagas(const nlohmann::json& sagas);

/// A duration as the CLI takes it: 30s, 5m, 2h, 1d, 500ms, or seconds.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace troupe::cli
