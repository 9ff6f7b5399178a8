// How a node's parts talk. The bus runs on the node's wire thread (its
// event loop, actors/bus.hpp); the services run in CAF actors, each behind
// a typed interface, so a message a service host does not declare is a
// compile error at the sender and nothing is dropped unseen.
//
//   bus (wire thread) ──deliver, restore──────────▶ service host (CAF)
//   bus ──query, stats (by a short-lived asker)────▶ service host
//   service host ──answers, crashed (bus_inbox)────▶ bus, posted to its thread
#pragma once

#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/runtime/delivery.hpp"
#include "store/node_store.hpp"

namespace troupe::protocol {

using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;

/// Deliveries for one service, handed over together.
struct delivery_batch {
  std::vector<runtime::delivery> items;
};
/// A service's rows, read back to rebuild it after a crash.
struct state_rows {
  std::vector<store::state_row> rows;
};
/// Where a service host sends what it has for the bus: callable from any
/// thread; the bus takes it on its own.
class bus_inbox {
 public:
  virtual ~bus_inbox() = default;
  /// A service's answers to one delivery_batch, in the same order.
  virtual void answers(std::vector<runtime::answer> items) = 0;
  /// `service` crashed; sent after every answer it gave before.
  virtual void crashed(std::string service) = 0;
};

using service_host_actor = caf::typed_actor<
    caf::reacts_to<deliver_atom, delivery_batch>,
    caf::reacts_to<run_atom, runtime::delivery>,  // its own: a delivery after its injected delay
    caf::reacts_to<restore_atom, state_rows>,
    caf::replies_to<query_atom, std::string, std::string>::with<std::string>,
    caf::replies_to<stats_atom>::with<std::string>>;

}  // namespace troupe::protocol

// These never leave the process (CAF's own network layer is not used), so
// they need no serialization.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::runtime::delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::delivery_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::state_rows)
