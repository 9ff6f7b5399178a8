// The gateway's bench (`troupe_bench --only gateway`): events per second
// put through `troupe gateway` (signed PutEvents of 10 entries over
// keep-alive HTTP connections) against the same events put straight on the
// ingress node's control socket in calls of 10, from as many client
// threads, on one keyed two-node cluster, alternated, best of three with
// every run printed.
#pragma once

#include <cstddef>

namespace troupe::bench {

/// Runs and prints the figures; throws when a run fails.
void gateway_figures(std::size_t events, unsigned clients);

}  // namespace troupe::bench
