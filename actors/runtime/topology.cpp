#include "actors/runtime/topology.hpp"
#include "actors/runtime/error.hpp"

#include <algorithm>

namespace troupe::runtime {

result<topology> topology_of(const cluster::config& cfg) {
  topology t;
  t.matcher = std::make_shared<rules::matcher>();
  for (const auto& r : cfg.rules) {
    auto added = t.matcher->add(r.name, r.pattern_json);
    if (!added)
      return error{errc::config, "rule " + r.name + ": " + added.err().to_string()};
    const auto index = *added;
    t.rule_targets.push_back(r.target);
    const auto* host = cfg.node_hosting(r.target);
    if (!host)
      continue;
    auto& set = t.consumes[host->name];
    if (auto pinned = t.matcher->pinned_values(index, "detail-type"))
      set.insert(pinned->begin(), pinned->end());
    else
      set.insert("");
  }
  t.matcher->compile();
  // Where a DLQ runs, every other node with services takes what it sends
  // back: a redrive goes to the target's node wherever it runs now.
  const bool any_dlq =
      std::any_of(cfg.rules.begin(), cfg.rules.end(), [](const auto& r) { return !r.dead_letter_queue.empty(); });
  if (const auto* dlq_host = cfg.node_hosting(cluster::dlq_service); dlq_host && any_dlq)
    for (const auto& n : cfg.nodes)
      if (n.name != dlq_host->name)
        t.consumes[n.name].insert(cluster::redrive_type);
  for (const auto& n : cfg.nodes)
    t.consumes[n.name];  // every node has an entry, if empty
  return t;
}

std::vector<std::string> topology::consumers_of(const std::string& stream, const std::string& node) const {
  std::vector<std::string> out;
  for (const auto& [peer, streams] : consumes)
    if (peer != node && (streams.count("") || streams.count(stream)))
      out.push_back(peer);
  return out;
}

bool topology::consumes_everything(const std::string& node) const {
  auto it = consumes.find(node);
  return it != consumes.end() && it->second.count("");
}

}  // namespace troupe::runtime
