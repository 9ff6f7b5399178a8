// A keyed version of the small cluster, for the authorization tests: every
// node has a key, three clients have roles, and the services declare what
// they originate.
#pragma once

#include "tests/runtime/fixtures.hpp"
#include "wire/security.hpp"

namespace troupe::runtime::test {

/// `up` (service a: emits B, takes A from producers), `down` (b: takes B
/// from producers), `dead` (the DLQ). Clients: `shop` (producer of source
/// app), `viewer` (reader), `ops` (reader and operator), `any` (producer of
/// any source).
inline cluster::config keyed_cluster() {
  std::string yaml = "cluster: t\nnodes:\n";
  const char* nodes[][3] = {{"up", "1", "a"}, {"down", "3", "b"}, {"dead", "5", "dlq"}};
  for (const auto& n : nodes)
    yaml += std::string("  ") + n[0] + ":\n    endpoints: {pub: \"tcp://127.0.0.1:" + n[1]
            + "\", control: \"tcp://127.0.0.1:1" + n[1] + "\"}\n    services: [" + n[2] + "]\n    public-key: \""
            + wire::make_key_pair()->public_key + "\"\n    secret-key-env: KEY_" + n[0] + "\n";
  yaml += "clients:\n";
  const char* clients[][2] = {{"shop", "[producer], sources: [app]"},
                              {"viewer", "[reader]"},
                              {"ops", "[reader, operator]"},
                              {"any", "[producer]"}};
  for (const auto& c : clients)
    yaml += std::string("  ") + c[0] + ": {public-key: \"" + wire::make_key_pair()->public_key + "\", roles: " + c[1]
            + "}\n";
  return load_test_config(yaml + small_cluster_rules);
}

/// What the keyed cluster's services declare.
inline const service_registry& keyed_registry() {
  static const service_registry reg = [] {
    service_registry r;
    using types = std::vector<std::string>;
    r.add("a", nullptr, {types{"B"}, types{"A"}});
    r.add("b", nullptr, {types{}, types{"B"}});
    r.add("dlq", nullptr, {types{cluster::redrive_type}, types{"DeadLetterRedriveRequested", "DeadLetterPurgeRequested"}});
    return r;
  }();
  return reg;
}

} // namespace troupe::runtime::test
