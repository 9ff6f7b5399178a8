// What the live page (launcher/dashboard.hpp) draws, worked out as plain
// data: the saga graph of a config, and each edge's rates from successive
// status answers of the nodes. No sockets, no HTTP: unit-tested alone.
//
// The graph's nodes are the config's services and one for the producers
// outside it (`outside_producers`); its edges are the config's rules, from
// each service that emits a detail-type the rule's pattern names (as the
// service registry declares) to the rule's target, and from the outside
// when a producer may put one (a detail-type some service `accepts`, or
// that no service emits). A rule whose pattern names no detail-type may
// take anything: it has an edge from every source. A target whose rules
// have a DLQ has one more edge, to the DLQ, for its dead letters.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/service.hpp"
#include "cluster/config.hpp"

namespace troupe::cli {

inline constexpr const char* outside_producers = "PutEvents";

struct graph_edge {
  std::string from, to;
  std::string rule;           // for a dead-letter edge: empty (it is every rule of `from` with that DLQ)
  bool dead_letters = false;  // from a target to its DLQ
};

/// The edges of `cfg`'s saga graph, in the config's order of rules (the
/// runtime's own `troupe.*` rules left out), dead-letter edges last.
std::vector<graph_edge> saga_graph(const cluster::config& cfg, const service_registry& reg);

/// A rule's counters as a node reports them in its status (`metrics`).
struct rule_counters {
  std::uint64_t matched = 0, invocations = 0, failed = 0, retries = 0, to_dlq = 0;
};

/// Rates from the nodes' status answers, each poll added as it comes. A
/// rate is over the polls of the last `window` (at least two of them); a
/// node counts only where it answered at both ends, and a counter that went
/// down (the node restarted) counts from zero.
class rate_meter {
 public:
  using key = std::pair<std::string, std::string>;  // (rule, target)
  struct rates {
    double invocations = 0, failed = 0, retries = 0, to_dlq = 0;  // per second
    rule_counters totals;  // the newest poll's, over the nodes that answered
  };

  explicit rate_meter(std::int64_t window_ms = 6000) : window_ms_(window_ms) {}

  /// One poll at `at_ms`: the status of each node that answered, by node.
  void add(std::int64_t at_ms, const std::map<std::string, nlohmann::json>& statuses);

  /// Every (rule, target) the newest poll reported.
  std::map<key, rates> current() const;
  /// The seconds the rates span (0 before the second poll).
  double span_s() const;

 private:
  struct poll {
    std::int64_t at_ms;
    std::map<std::string, std::map<key, rule_counters>> by_node;
  };
  std::int64_t window_ms_;
  std::deque<poll> polls_;  // oldest first
};

}  // namespace troupe::cli
