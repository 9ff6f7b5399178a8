// `troupe audit`: checks the invariants of the flight saga and of the
// runtime over every node's store and the notification service's Maildir.
//
// By default it asks each node, over its control socket (CurveZMQ with a
// client of the `reader` role in a keyed cluster), for its part: the
// `read` verb (wire/control.hpp) pages through the node's state rows and
// gives its inbox count and outbox backlog, measured on the node's own
// clock; the notification service's "mails" query pages through the
// Maildir on its host. So it works from any host, on a running cluster.
// Every node is asked at once, each request within `node_timeout`. A node
// that does not answer (stopped, unreachable, or refusing this client) is
// named, and the answer is INCOMPLETE: what could be read is still checked
// and its violations reported, but the exit code says incomplete.
//
// `--offline` reads the stores (read-only) and the Maildir from this
// machine's disk instead, as the nodes' data directories say: for a
// stopped cluster, or one whose files were copied here. Both ways read the
// stores through the same functions (actors/runtime/store_read.hpp) and
// judge what they read the same way, so they give the same report on the
// same quiescent data. Neither reads all nodes in one snapshot: a running
// cluster may be caught mid-saga, hence `--wait`.
//
// A booking whose event went to a dead-letter queue stays PENDING until an
// operator redrives it: it is parked, not lost. The audit reads the records
// of every node running the `dlq` service and counts such bookings apart
// (DEAD_LETTERED), not as violations, along with the dead letters per
// ERROR_CODE.
//
// Exit codes: 0 passed; 1 (audit_violations) violations found, every node
// read; 3 (audit_incomplete) a node could not be read, whatever was found
// in the others (an unread node may hold the other half of a booking, so
// its violations may be spurious, and a pass would not be one).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "cluster/config.hpp"

namespace troupe::cli {

struct audit_options {
  bool json = false;
  bool allow_in_flight = false;  // bookings still PENDING are not violations
  double wait_s = 0;             // look again until the audit passes, this long at most
  bool offline = false;          // read this machine's disk, not the nodes
  std::uint32_t page_rows = 2000;  // rows (and mails) asked per request
  std::chrono::milliseconds node_timeout{5000};  // per request to a node
};

inline constexpr int audit_violations = 1;
inline constexpr int audit_incomplete = 3;

/// A node whose part the audit could not read, and why.
struct unreachable_node {
  std::string node;
  std::string error;
};

int audit(const cluster::config& cfg, const audit_options& opts);

} // namespace troupe::cli
