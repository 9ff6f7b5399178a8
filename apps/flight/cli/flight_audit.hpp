// `troupe audit`: reads every node's store (read-only, while the cluster
// runs or after it stopped) and the Maildir, and checks the invariants of
// the flight saga and of the runtime. Exits non-zero on any violation.
//
// A booking whose event went to a dead-letter queue stays PENDING until an
// operator redrives it: it is parked, not lost. The audit reads the records
// of every node running the `dlq` service and counts such bookings apart
// (DEAD_LETTERED), not as violations, along with the dead letters per
// ERROR_CODE.
#pragma once

#include "cluster/config.hpp"

namespace troupe::cli {

struct audit_options {
  bool json = false;
  bool allow_in_flight = false;  // bookings still PENDING are not violations
  double wait_s = 0;             // look again until the audit passes, this long at most
};

int audit(const cluster::config& cfg, const audit_options& opts);

} // namespace troupe::cli
