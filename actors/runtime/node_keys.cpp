#include "actors/runtime/node_keys.hpp"

#include <cstdlib>

#include "actors/runtime/authorization.hpp"
#include "actors/runtime/error.hpp"

namespace troupe::runtime {

cluster::secret_key_source secret_source_of(const cluster::node_spec& node) {
  cluster::secret_key_source s;
  if (const char* file = std::getenv("TROUPE_SECRET_KEY_FILE"); file && *file)
    s.file = file;
  else if (const char* key = std::getenv("TROUPE_SECRET_KEY"); key && *key)
    s.env = "TROUPE_SECRET_KEY";
  else
    s = node.secret;
  return s;
}

result<std::optional<wire::endpoint_security>> endpoint_security_of(const cluster::config& cfg,
                                                                    const cluster::node_spec& node) {
  if (!cfg.secure())
    return std::optional<wire::endpoint_security>{};
  const auto source = secret_source_of(node);
  auto secret = cluster::secret_key(source);
  if (!secret)
    return error{errc::config, "node " + node.name + ": " + secret.err().message};
  auto pub = wire::public_of(*secret);
  if (!pub || *pub != node.public_key)
    return error{errc::config, "node " + node.name + ": the secret key in " + source.describe()
                                   + " is not the one of its public-key in " + cfg.file};
  wire::endpoint_security sec;
  sec.own = {node.public_key, *secret};
  sec.admitted = authorization::zap_policy_of(cfg);
  return std::optional<wire::endpoint_security>{std::move(sec)};
}

} // namespace troupe::runtime
