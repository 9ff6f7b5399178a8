// Keys for the CLI: `troupe keygen`, and the client the CLI speaks as.
//
// In a keyed cluster every CLI command is a client of the config: it picks
// the client named by `--client` or $TROUPE_CLIENT, or else the first
// client that has the role the command needs and whose secret key this
// user can read, and says which when none fits.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/config.hpp"
#include "wire/client.hpp"

namespace troupe::cli {

/// The client every later request speaks as (`--client`); empty: choose.
void use_client(std::string name);

/// A client of `node`'s control socket, for requests that need role `r`;
/// with the credentials of the client chosen as above in a keyed cluster.
result<std::unique_ptr<wire::client>> connect(const cluster::config& cfg, const cluster::node_spec& node,
                                              cluster::role r);

/// What is wrong with the secret keys this machine holds (a file others
/// may read, one that is not its public key's secret); those named but not
/// here are another machine's business.
std::vector<std::string> secret_key_problems(const cluster::config& cfg);

/// `troupe keygen NAME --dir DIR`: writes DIR/NAME.key (0600) and
/// DIR/NAME.pub, and prints the public key. Returns the exit code.
int keygen(const std::string& name, const std::string& dir);

/// `troupe keygen --config FILE`: makes every key pair the config names
/// by `public-key-file` and `secret-key-file` that does not exist yet.
/// Returns the exit code.
int keygen_for(const std::string& config_file);

} // namespace troupe::cli
