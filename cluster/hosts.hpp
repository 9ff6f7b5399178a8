// The machines of a cluster: the config's `hosts:` section.
//
// A node on a host names only its ports. It binds on the host's `bind`
// address (an IP literal, or `*` for every address) and its peers and
// clients dial the host's `address`, which may be a DNS name: ZeroMQ looks
// a name up again each time it connects, so a peer restarted under a new
// IP (a pod) is found again. A name cannot be bound (ZeroMQ reads it as an
// interface name), so a host named by DNS binds every address unless it
// says otherwise.
//
//   hosts:
//     alpha: {address: 198.18.0.1}
//     beta: {address: beta.flight.svc.cluster.local}        # binds *
//     gamma: {address: gamma.example.net, bind: 10.0.0.7}
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cluster/bind_address.hpp"
#include "cluster/diagnostics.hpp"

namespace YAML {
class Node;
}

namespace troupe::cluster {

struct host_spec {
  std::string name;
  std::string address;  // as peers dial it: an IP literal or a DNS name
  std::string bind;     // as its nodes bind: an IP literal, or "*"
  bool dns_name = false;
  int line = 0, column = 0;  // of the address, for warnings
};

/// Reads the `hosts:` section (absent: none), reporting every problem.
std::vector<host_spec> read_hosts(const YAML::Node& hosts, diagnostics& diag);

/// `tcp://ADDRESS:PORT`, with an IPv6 literal in brackets.
std::string tcp_endpoint(const std::string& address, int port);

/// `ADDRESS:PORT` (an HTTP listener's address), with an IPv6 literal in brackets.
std::string host_port(const std::string& address, int port);

/// What a node on `h` binds for `port`, as `bind_table` compares it.
bind_address bind_of(const host_spec& h, int port);

/// A warning per host whose DNS name does not resolve on this machine, as
/// `file:line:column: warning: reason`. Not an error: the name may exist
/// only where the nodes run (a Kubernetes Service, say).
std::vector<std::string> unresolved_hosts(const std::vector<host_spec>& hosts, const std::string& file);

} // namespace troupe::cluster
