#include "actors/runtime/authorization.hpp"

#include <algorithm>

namespace troupe::runtime {

namespace {

/// The runtime's own commands, which an operator puts to a DLQ's node.
bool dlq_command(const wire::put_entry& e) { return e.source == cluster::dlq_command_source; }

} // namespace

authorization::authorization(const cluster::config& cfg, const std::string& self, const service_registry* registry)
    : secure_(cfg.secure()), self_(self) {
  for (const auto& c : cfg.clients)
    clients_[c.name] = &c;
  for (const auto& n : cfg.nodes) {
    nodes_.insert(n.name);
    if (n.emits)
      narrowed_[n.name].insert(n.emits->begin(), n.emits->end());
    for (const auto& s : n.services)
      if (const auto* t = registry ? registry->traits(s) : nullptr) {
        for (const auto& d : t->emits) {
          owners_[d].insert(n.name);
          emitted_[n.name].insert(d);
        }
        for (const auto& d : t->accepts)
          owners_[d].insert(n.name);
      }
  }
}

principal authorization::who(const std::string& user) const {
  if (!secure_)
    return {principal::kind::anyone, user, nullptr};
  if (nodes_.count(user))
    return {principal::kind::node, user, nullptr};
  if (auto it = clients_.find(user); it != clients_.end())
    return {principal::kind::client, user, it->second};
  return {principal::kind::unknown, user, nullptr};
}

std::optional<std::string> authorization::refuse(const principal& p, const std::string& verb) const {
  using k = principal::kind;
  if (p.is == k::anyone)
    return std::nullopt;
  const bool peer_verb = verb == "ack" || verb == "replay";
  if (p.is == k::node) {
    if (peer_verb)
      return std::nullopt;
    return "AccessDenied: node '" + p.name + "' is a peer, not a client; '" + verb + "' needs a client's role";
  }
  if (p.is != k::client)
    return "AccessDenied: '" + p.name + "' is neither a node nor a client of the config";
  if (peer_verb)
    return "AccessDenied: client '" + p.name + "' is not a node; only nodes send " + verb + "s";
  // An operator's redrive and purge are PutEvents entries too: a put is
  // for producers and operators, and each entry is checked for its own.
  if (verb == "put")
    return p.client->has(cluster::producer) || p.client->has(cluster::operator_)
               ? std::nullopt
               : std::optional<std::string>("AccessDenied: client '" + p.name
                                            + "' lacks the role 'producer' that 'put' needs (or 'operator', for DLQ "
                                              "redrive and purge)");
  if (p.client->has(cluster::reader))
    return std::nullopt;
  return "AccessDenied: client '" + p.name + "' lacks the role 'reader' that '" + verb + "' needs";
}

std::optional<std::pair<std::string, std::string>> authorization::refuse_entry(const principal& p,
                                                                              const wire::put_entry& e) const {
  if (p.is == principal::kind::anyone)
    return std::nullopt;
  if (dlq_command(e)) {
    if (!p.client || !p.client->has(cluster::operator_))
      return std::pair<std::string, std::string>{
          "NotAuthorizedForSourceException",
          "source " + e.source + " (DLQ redrive and purge) needs the role 'operator', which client '" + p.name
              + "' lacks"};
  } else if (p.client && !p.client->has(cluster::producer)) {
    return std::pair<std::string, std::string>{
        "AccessDeniedException", "client '" + p.name + "' lacks the role 'producer' that putting events needs"};
  } else if (p.client && !p.client->sources.empty()
             && std::find(p.client->sources.begin(), p.client->sources.end(), e.source) == p.client->sources.end()) {
    return std::pair<std::string, std::string>{"NotAuthorizedForSourceException",
                                               "client '" + p.name + "' may not put events with source " + e.source};
  }
  // What a service emits is the service's word alone: a producer who could
  // put a BookingCreated could charge a booking nobody made.
  const auto emitted = emitted_.find(self_);
  if (!may_originate(self_, e.detail_type) || (emitted != emitted_.end() && emitted->second.count(e.detail_type)))
    return std::pair<std::string, std::string>{
        "NotAuthorizedForDetailTypeException",
        "node " + self_ + " does not take " + e.detail_type + " from producers ("
            + (emitted != emitted_.end() && emitted->second.count(e.detail_type) ? "its services emit it"
                                                                                 : owner_text(e.detail_type))
            + ")"};
  return std::nullopt;
}

bool authorization::may_originate(const std::string& origin, const std::string& detail_type) const {
  if (!secure_)
    return true;
  if (!nodes_.count(origin))
    return false;
  if (detail_type == cluster::dead_letter_type)
    return true;  // any node dead-letters its deliveries
  if (auto n = narrowed_.find(origin); n != narrowed_.end() && !n->second.count(detail_type))
    return false;
  auto owners = owners_.find(detail_type);
  return owners == owners_.end() || owners->second.count(origin) > 0;
}

std::string authorization::owner_text(const std::string& detail_type) const {
  auto owners = owners_.find(detail_type);
  if (owners == owners_.end())
    return "its config narrows what it originates";
  std::string names;
  for (const auto& n : owners->second)
    names += (names.empty() ? "" : ", ") + n;
  return "it is " + names + "'s";
}

bool authorization::is_node(const principal& p, const std::string& node) const {
  return p.is == principal::kind::anyone || (p.is == principal::kind::node && p.name == node);
}

wire::zap_policy authorization::zap_policy_of(const cluster::config& cfg) {
  wire::zap_policy z;
  for (const auto& n : cfg.nodes) {
    z.admit(wire::pub_domain, n.public_key, n.name);
    z.admit(wire::control_domain, n.public_key, n.name);
  }
  for (const auto& c : cfg.clients)
    z.admit(wire::control_domain, c.public_key, c.name);
  return z;
}

} // namespace troupe::runtime
