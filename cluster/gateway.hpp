// The config's `gateway:` section: how `troupe gateway` serves
// EventBridge's API over HTTP, and who may call it.
//
//   gateway:
//     listen: 127.0.0.1:8088          # ADDRESS:PORT (an IP literal, [v6] in brackets)
//     ingress: booking                # the node PutEvents go to
//     client: shop                    # a keyed cluster: the client the gateway speaks to nodes as
//     region: us-east-1               # in ARNs and signatures' scope (default us-east-1)
//     account: "000000000000"         # in ARNs (default 000000000000)
//     access-keys:
//       AKIAFLIGHTSHOP000001:         # an access key id, as the AWS CLI and SDKs send it
//         secret-key-file: ../keys/shop.aws   # or secret-key-env: VAR
//         roles: [producer, reader]
//         sources: [flight.web]       # optional: a producer's sources
//     unsigned: false                 # true: requests without a signature too, loopback only
//
// Every request is signed with Signature Version 4 by an access key listed
// here, unless `unsigned` is true and the gateway listens on loopback only.
// A key's roles are the clients' roles (cluster/access.hpp): PutEvents
// needs producer, the List and Describe operations reader; TestEventPattern
// any key. The gateway is itself one client of the cluster (`client`), whose
// roles and sources bound every key's.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cluster/access.hpp"
#include "cluster/diagnostics.hpp"

namespace YAML {
class Node;
}

namespace troupe::cluster {

struct config;

struct access_key {
  std::string id;
  secret_key_source secret;
  unsigned roles = 0;
  std::vector<std::string> sources;  // empty: any source
  bool has(role r) const { return (roles & r) != 0; }
};

struct gateway_spec {
  std::string listen = "127.0.0.1:8088";
  std::string ingress;
  std::string client;
  std::string region = "us-east-1";
  std::string account = "000000000000";
  bool allow_unsigned = false;
  std::vector<access_key> access_keys;

  const access_key* find_key(const std::string& id) const;
};

/// An HTTP listening address split into its parts; nullopt unless it is
/// `IP:PORT` or `[IPv6]:PORT` with a port from 1 to 65535.
struct listen_address {
  std::string host;  // the IP literal, without brackets
  int port = 0;
  bool loopback = false;
};
std::optional<listen_address> parse_listen(const std::string& text);

/// Reads the optional `gateway:` section; checks it against the nodes and
/// clients of `cfg`, which are read already.
std::optional<gateway_spec> read_gateway(const YAML::Node& gateway, const config& cfg, diagnostics& diag);

/// An AWS secret access key from its file (which others must not be able
/// to read) or environment variable: 16 to 128 printable characters.
result<std::string> secret_access_key(const secret_key_source& src);

/// `arn:aws:events:REGION:ACCOUNT:...` for the cluster's event bus and its
/// rules, and the ARN a rule's target (a service) is named by.
std::string bus_arn(const gateway_spec& g, const std::string& cluster);
std::string rule_arn(const gateway_spec& g, const std::string& cluster, const std::string& rule);
std::string service_arn(const gateway_spec& g, const std::string& cluster, const std::string& service);

} // namespace troupe::cluster
