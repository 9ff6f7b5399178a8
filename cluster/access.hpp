// Who may connect to a cluster, and what each may do: the nodes' and the
// clients' CurveZMQ public keys, where each secret key is found (never in
// the config itself), and the clients' roles.
//
//   nodes:
//     booking:
//       public-key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"   # or public-key-file: ../keys/booking.pub
//       secret-key-file: ../keys/booking.key     # or secret-key-env: VAR
//       emits: [BookingCreated, ...]             # optional: narrows what it may originate
//   clients:
//     shop:
//       public-key: "..."
//       secret-key-file: ../keys/shop.key        # optional: where the CLI finds it
//       roles: [producer]
//       sources: [flight.web]                    # optional: a producer's sources
//
// A config lists keys for every node or for none. One without keys is an
// open cluster: anyone who reaches a port is everything. It is refused
// unless every endpoint is loopback or ipc, and said aloud even then.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "cluster/diagnostics.hpp"
#include "wire/error.hpp"

namespace troupe::cluster {

/// A client's roles, as bits.
enum role : unsigned {
  producer = 1,  // PutEvents, of its `sources` when it has any
  reader = 2,    // status, queries (bookings, dlq list and show), audit
  operator_ = 4, // DLQ redrive and purge
};

/// "producer", "reader", "operator".
const char* role_name(role r);

/// Where a secret key is: a file (absolute) or an environment variable.
struct secret_key_source {
  std::filesystem::path file;
  std::string env;
  bool empty() const { return file.empty() && env.empty(); }
  std::string describe() const;
};

struct client_spec {
  std::string name;
  std::string public_key;  // Z85
  unsigned roles = 0;
  std::vector<std::string> sources;  // empty: any source
  secret_key_source secret;          // may be empty: the CLI is told where
  bool has(role r) const { return (roles & r) != 0; }
};

struct node_access {
  std::string public_key;
  secret_key_source secret;
  std::optional<std::vector<std::string>> emits;
};

/// Reads a node's access settings from its map `n` (paths relative to
/// `dir`), reporting problems as `where`.
node_access read_node_access(const YAML::Node& n, const std::string& where, const std::filesystem::path& dir,
                             diagnostics& diag);

/// Reads the optional top-level `clients` map.
std::vector<client_spec> read_clients(const YAML::Node& clients, const std::filesystem::path& dir,
                                      diagnostics& diag);

struct config;

/// Checks what only the whole config tells: keys for every node or for
/// none, no key or name used twice, and an open cluster only on loopback
/// or ipc endpoints. `root` gives the positions.
void check_access(const YAML::Node& root, const config& cfg, diagnostics& diag);

/// Why the cluster is open, for `troupe check` and the nodes to say
/// aloud; nullopt when it has keys.
std::optional<std::string> open_cluster_warning(const config& cfg);

/// The secret key from its file (which others must not be able to read)
/// or its environment variable.
result<std::string> secret_key(const secret_key_source& src);

} // namespace troupe::cluster
