// A node's CurveZMQ setup, from the config: its own key pair (the secret
// read from its file or environment variable, and checked to belong to the
// public key the config lists) and the ZAP policy of who may connect.
#pragma once

#include <optional>

#include "cluster/config.hpp"
#include "wire/endpoint.hpp"

namespace troupe::runtime {

/// nullopt for an open cluster. Fails, naming the file or variable, when
/// the secret key cannot be read, may be read by others, or is not the
/// secret of the node's public key.
result<std::optional<wire::endpoint_security>> endpoint_security_of(const cluster::config& cfg,
                                                                    const cluster::node_spec& node);

} // namespace troupe::runtime
