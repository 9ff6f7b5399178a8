// `troupe dashboard`: the live page of a cluster, over HTTP, with no asset
// from elsewhere: the saga graph of services and rules with each edge's
// rates and failures, each node's health, the recent (or stuck) sagas and
// the trace of any one, and the dead letters, with redrive as an operator
// action.
//
// It speaks to the nodes over their control sockets as the CLI does (a
// reader client; the operator client for a redrive), and serves the page
// (launcher/dashboard.html, built in) at GET / and JSON under /api/:
//
//   GET  /api/info            the cluster, and whether redrive is possible
//   GET  /api/graph           the graph (dashboard_graph.hpp) with rates
//   GET  /api/nodes           each node: up or down, peers, services, counters
//   GET  /api/sagas?limit=N   recent sagas; ?stuck=30s the stuck ones
//   GET  /api/trace/ID        one saga whole (trace.hpp's collect_saga)
//   GET  /api/dlq?limit=N     the dead letters of every DLQ, oldest first
//   POST /api/dlq/redrive     {"ids": [...]} with X-Troupe-Operator-Key
//
// One thread polls every node's status every two seconds; /api/graph and
// /api/nodes answer from its last poll, so that viewers add no load on
// the nodes for them. Redrive needs the key from --operator-key-file (mode
// 0600); without that file the dashboard redrives nothing.
#pragma once

#include <string>

#include "cluster/config.hpp"

namespace troupe::cli {

struct dashboard_options {
  std::string listen = "127.0.0.1:8090";
  std::string operator_key_file;  // empty: no redrive
  unsigned threads = 8;           // HTTP workers; each open connection holds one
};

/// Serves until SIGINT or SIGTERM; returns the exit code (2 for options or
/// a key file that cannot serve, 1 when the port cannot be bound).
int dashboard(const cluster::config& cfg, const dashboard_options& opts);

/// Whether `given` is `key`, in time that does not depend on where they
/// differ.
bool same_key(const std::string& given, const std::string& key);

}  // namespace troupe::cli
