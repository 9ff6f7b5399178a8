// A node: one OS process hosting some of the cluster's services, each in a
// CAF actor, and one wire endpoint (the I/O thread owning its ZeroMQ
// sockets), whose thread also runs the bus that routes events to them by
// rule and commits the node's store.
//
//   wire I/O thread: sockets ─event──▶ bus ──deliver──▶ service actor
//                            ◀publish─     ◀──answers──
//                    control ─request▶ bus ──query────▶ service actor
//
// The bus gives every event it originates a sequence number per stream
// (origin, detail-type) and the node's epoch, publishes it, and routes it
// to local targets too; events from peers arrive through the endpoint. The
// node runs until SIGINT or SIGTERM.
#pragma once

#include <string>

#include "actors/service.hpp"
#include "cluster/config.hpp"
#include "log/format.hpp"

namespace troupe {

/// Runs node `name` of `cfg` until a stop signal, its log lines on stdout
/// in `log_format` (log/format.hpp). Returns the process exit code; errors
/// are logged, never thrown.
int run_node(const cluster::config& cfg, const std::string& name, const service_registry& registry,
             log::format log_format = log::format::text);

} // namespace troupe
