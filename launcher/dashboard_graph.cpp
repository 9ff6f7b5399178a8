#include "launcher/dashboard_graph.hpp"

#include <algorithm>

namespace troupe::cli {

using json = nlohmann::json;

std::vector<graph_edge> saga_graph(const cluster::config& cfg, const service_registry& reg) {
  std::vector<std::string> services;  // in the config's order of nodes
  for (const auto& n : cfg.nodes)
    for (const auto& s : n.services)
      if (std::find(services.begin(), services.end(), s) == services.end())
        services.push_back(s);
  const auto emitters = [&](const std::string& type) {
    std::vector<std::string> out;
    for (const auto& s : services)
      if (const auto* t = reg.traits(s); t && std::count(t->emits.begin(), t->emits.end(), type))
        out.push_back(s);
    return out;
  };
  const auto put_from_outside = [&](const std::string& type) {
    for (const auto& s : services)
      if (const auto* t = reg.traits(s); t && std::count(t->accepts.begin(), t->accepts.end(), type))
        return true;
    return emitters(type).empty();
  };
  std::vector<graph_edge> edges;
  std::vector<std::pair<std::string, std::string>> to_dlq;  // (target, DLQ), each once
  for (const auto& r : cfg.rules) {
    if (r.internal)
      continue;
    std::vector<std::string> from;
    const auto add = [&from](const std::string& s) {
      if (std::find(from.begin(), from.end(), s) == from.end())
        from.push_back(s);
    };
    if (!r.detail_types) {
      add(outside_producers);
      for (const auto& s : services)
        if (const auto* t = reg.traits(s); t && !t->emits.empty())
          add(s);
    } else {
      for (const auto& type : *r.detail_types) {
        if (put_from_outside(type))
          add(outside_producers);
        for (const auto& s : emitters(type))
          add(s);
      }
    }
    for (const auto& f : from)
      edges.push_back({f, r.target, r.name, false});
    if (!r.dead_letter_queue.empty()) {
      const std::pair<std::string, std::string> d{r.target, r.dead_letter_queue};
      if (std::find(to_dlq.begin(), to_dlq.end(), d) == to_dlq.end())
        to_dlq.push_back(d);
    }
  }
  for (const auto& [target, dlq] : to_dlq)
    edges.push_back({target, dlq, "", true});
  return edges;
}

void rate_meter::add(std::int64_t at_ms, const std::map<std::string, json>& statuses) {
  poll p{at_ms, {}};
  for (const auto& [node, status] : statuses) {
    auto& mine = p.by_node[node];
    const auto metrics = status.value("metrics", json::array());
    if (!metrics.is_array())
      continue;
    for (const auto& m : metrics) {
      if (!m.is_object())
        continue;
      auto& c = mine[{m.value("rule", ""), m.value("target", "")}];
      c.matched += m.value("MatchedEvents", std::uint64_t{0});
      c.invocations += m.value("Invocations", std::uint64_t{0});
      c.failed += m.value("FailedInvocations", std::uint64_t{0});
      c.retries += m.value("RetryInvocationAttempts", std::uint64_t{0});
      c.to_dlq += m.value("InvocationsSentToDlq", std::uint64_t{0});
    }
  }
  polls_.push_back(std::move(p));
  while (polls_.size() > 2 && polls_.back().at_ms - polls_[1].at_ms >= window_ms_)
    polls_.pop_front();
}

double rate_meter::span_s() const {
  if (polls_.size() < 2)
    return 0;
  return static_cast<double>(polls_.back().at_ms - polls_.front().at_ms) / 1000;
}

std::map<rate_meter::key, rate_meter::rates> rate_meter::current() const {
  std::map<key, rates> out;
  if (polls_.empty())
    return out;
  const auto& newest = polls_.back();
  for (const auto& [node, counters] : newest.by_node)
    for (const auto& [k, c] : counters) {
      auto& t = out[k].totals;
      t.matched += c.matched;
      t.invocations += c.invocations;
      t.failed += c.failed;
      t.retries += c.retries;
      t.to_dlq += c.to_dlq;
    }
  const double span = span_s();
  if (span <= 0)
    return out;
  const auto& oldest = polls_.front();
  // A counter that went down belongs to a node that started again: all of
  // it is new.
  const auto delta = [](std::uint64_t now, std::uint64_t then) {
    return static_cast<double>(now >= then ? now - then : now);
  };
  for (const auto& [node, counters] : newest.by_node) {
    const auto before = oldest.by_node.find(node);
    if (before == oldest.by_node.end())
      continue;
    for (const auto& [k, c] : counters) {
      const auto b = before->second.find(k);
      const rule_counters then = b == before->second.end() ? rule_counters{} : b->second;
      auto& r = out[k];
      r.invocations += delta(c.invocations, then.invocations) / span;
      r.failed += delta(c.failed, then.failed) / span;
      r.retries += delta(c.retries, then.retries) / span;
      r.to_dlq += delta(c.to_dlq, then.to_dlq) / span;
    }
  }
  return out;
}

}  // namespace troupe::cli
