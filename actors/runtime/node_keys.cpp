#include "actors/runtime/node_keys.hpp"

#include "actors/runtime/authorization.hpp"
#include "actors/runtime/error.hpp"

namespace troupe::runtime {

result<std::optional<wire::endpoint_security>> endpoint_security_of(const cluster::config& cfg,
                                                                    const cluster::node_spec& node) {
  if (!cfg.secure())
    return std::optional<wire::endpoint_security>{};
  auto secret = cluster::secret_key(node.secret);
  if (!secret)
    return error{errc::config, "node " + node.name + ": " + secret.err().message};
  auto pub = wire::public_of(*secret);
  if (!pub || *pub != node.public_key)
    return error{errc::config, "node " + node.name + ": the secret key in " + node.secret.describe()
                                   + " is not the one of its public-key in " + cfg.file};
  wire::endpoint_security sec;
  sec.own = {node.public_key, *secret};
  sec.admitted = authorization::zap_policy_of(cfg);
  return std::optional<wire::endpoint_security>{std::move(sec)};
}

} // namespace troupe::runtime
