// A node's CurveZMQ setup, from the config: its own key pair (the secret
// read from its file or environment variable, and checked to belong to the
// public key the config lists) and the ZAP policy of who may connect.
#pragma once

#include <optional>

#include "cluster/config.hpp"
#include "wire/endpoint.hpp"

namespace troupe::runtime {

/// Where the node reads its secret key. An engine may hand it over in its
/// own way, whatever the config says: $TROUPE_SECRET_KEY_FILE names a file
/// (systemd's LoadCredential=, a mounted Secret), $TROUPE_SECRET_KEY holds
/// the key itself (a Kubernetes Secret as an environment variable).
/// Otherwise the config's `secret-key-file` or `secret-key-env`.
cluster::secret_key_source secret_source_of(const cluster::node_spec& node);

/// nullopt for an open cluster. Fails, naming the file or variable, when
/// the secret key cannot be read, may be read by others, or is not the
/// secret of the node's public key.
result<std::optional<wire::endpoint_security>> endpoint_security_of(const cluster::config& cfg,
                                                                    const cluster::node_spec& node);

} // namespace troupe::runtime
