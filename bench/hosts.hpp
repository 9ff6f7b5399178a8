// The bench across hosts (`troupe_bench --only hosts`): three network
// namespaces joined by veth links to one bridge, as the multi-host tests
// make them (tests/integration/hosts_lab.hpp), and side by side on them:
// raw libzmq PUB/SUB in two processes on loopback and from alpha to beta
// over the links; troupe's single hop from a node on alpha to one on
// beta; and the flight saga end to end laid out as configs/three-hosts.yaml
// lays it out, `troupe book` run on alpha. Each figure is the best of
// three runs, every run printed beside it. Needs root; says so and
// measures nothing without.
#pragma once

#include <cstddef>
#include <string>

namespace troupe::bench {

struct hosts_inputs {
  std::string ping_topic;     // the single hop's frames, as a node publishes them
  std::string ping_envelope;
  std::string ping_detail;    // the detail its PutEvents carries (MessagePack)
  std::string services;       // the saga's `services:` section, cabins that do not fill
};

/// Runs and prints the figures; throws when a run fails.
void hosts_figures(std::size_t events, std::size_t bookings, const hosts_inputs& in);

} // namespace troupe::bench
