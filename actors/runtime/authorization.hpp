// Who may do what on a node, decided from the connection's identity.
//
// ZeroMQ hands every control request the ZAP user id of the connection it
// came on (a node's or a client's name from the config) and every event
// the peer whose SUB it arrived on. This unit turns those into decisions:
// which verbs a client's roles allow, which sources a producer may put,
// whether an ack or a replay request names the node that sent it, and which
// detail-types each node may originate. Plain C++: no CAF, no sockets.
//
// An open cluster (no keys) authenticates nobody, so it refuses nothing
// here: everything anyone asks is allowed, as before keys existed. The one
// check that holds in an open cluster too is that an event's origin is the
// peer whose socket it came from.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/service.hpp"
#include "cluster/config.hpp"
#include "wire/control.hpp"
#include "wire/security.hpp"

namespace troupe::runtime {

/// Who sent a control request.
struct principal {
  enum class kind { anyone, node, client, unknown };
  kind is = kind::unknown;
  std::string name;                     // the node's or the client's
  const cluster::client_spec* client = nullptr;
};

class authorization {
 public:
  /// Builds the rules of `cfg` for node `self`, with the detail-types that
  /// the services in `registry` declare.
  authorization(const cluster::config& cfg, const std::string& self, const service_registry* registry);

  bool secure() const { return secure_; }

  /// The principal behind a ZAP user id.
  principal who(const std::string& user) const;

  /// Why `p` may not make a request of `verb` ("put", "query", "status",
  /// "read", "ack", "replay"), naming the missing role; nullopt when it
  /// may. Every verb but put, ack and replay reads, and needs `reader`.
  std::optional<std::string> refuse(const principal& p, const std::string& verb) const;

  /// Why `p` may not put `e` on this node, as an EventBridge error code and
  /// message; nullopt when it may.
  std::optional<std::pair<std::string, std::string>> refuse_entry(const principal& p, const wire::put_entry& e) const;

  /// Whether node `origin` may originate events of `detail_type`: a
  /// detail-type some service declares (emits or accepts) comes only from
  /// the nodes running such a service, one nobody declares from any node,
  /// dead letters from every node; a node's `emits` in the config narrows
  /// what it may originate.
  bool may_originate(const std::string& origin, const std::string& detail_type) const;

  /// Whether `p` is node `node` (an ack's or a replay request's claim).
  bool is_node(const principal& p, const std::string& node) const;

  /// Who the ZAP handler admits, on which socket, and by what name.
  static wire::zap_policy zap_policy_of(const cluster::config& cfg);

 private:
  std::string owner_text(const std::string& detail_type) const;

  bool secure_ = false;
  std::string self_;
  std::map<std::string, const cluster::client_spec*> clients_;
  std::set<std::string> nodes_;
  std::map<std::string, std::set<std::string>> owners_;    // detail-type → the nodes declaring it
  std::map<std::string, std::set<std::string>> emitted_;   // node → what its services emit
  std::map<std::string, std::set<std::string>> narrowed_;  // node → its `emits` in the config
};

} // namespace troupe::runtime
