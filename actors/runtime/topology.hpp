// Who consumes what, from the config's rules: the streams (detail-types)
// each node's services are targeted with. It decides a node's
// subscriptions, and which peers must ack a stream before its origin may
// forget an event.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/config.hpp"
#include "rules/matcher.hpp"
#include "wire/error.hpp"

namespace troupe::runtime {

struct topology {
  std::shared_ptr<rules::matcher> matcher;  // every rule, compiled
  std::vector<std::string> rule_targets;    // per rule index: its target service
  std::map<std::string, std::set<std::string>> consumes;  // node → streams ("" = everything)

  /// The peers of `node` that consume `stream`.
  std::vector<std::string> consumers_of(const std::string& stream, const std::string& node) const;
  bool consumes_everything(const std::string& node) const;
};

/// The topology of `cfg`; an error names a rule whose pattern is invalid.
result<topology> topology_of(const cluster::config& cfg);

}  // namespace troupe::runtime
