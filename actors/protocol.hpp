// The typed messages between a node's actors. A message an actor does not
// declare is a compile error at the sender, so nothing is dropped unseen.
//
//   wire I/O thread ──events/request/peer/heartbeat──▶ bus
//   store writer    ──resume (a continuation)────────▶ bus
//   bus ──deliver──▶ service host ──answers, crashed──▶ bus
//   bus ──restore, query, stats──▶ service host
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/runtime/bus_core.hpp"
#include "actors/runtime/delivery.hpp"
#include "wire/endpoint.hpp"

namespace troupe::protocol {

using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using init_atom = caf::atom_constant<caf::atom("init")>;
using events_atom = caf::atom_constant<caf::atom("events")>;
using answers_atom = caf::atom_constant<caf::atom("answers")>;
using crashed_atom = caf::atom_constant<caf::atom("crashed")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;
using request_atom = caf::atom_constant<caf::atom("request")>;
using peer_atom = caf::atom_constant<caf::atom("peer")>;
using beat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

/// Deliveries for one service, handed over together.
struct delivery_batch {
  std::vector<runtime::delivery> items;
};
/// A service's answers to one delivery_batch, in the same order.
struct answer_batch {
  std::vector<runtime::answer> items;
};
/// A service's rows, read back to rebuild it after a crash.
struct state_rows {
  std::vector<store::state_row> rows;
};
/// Events that arrived from the wire in one burst, in arrival order.
struct inbound_events {
  std::vector<runtime::event_ptr> items;
};
/// A control request (or a peer's ack or replay request) and who to answer.
struct control_call {
  std::string identity;
  std::string body;
};
/// A message a peer sent back on our DEALER to it.
struct peer_message {
  std::string node;
  std::string body;
};
/// Work to finish on the bus once the store committed.
struct continuation {
  runtime::bus_port::continuation fn;
};
/// Hands the bus the endpoint it publishes to, once that is running.
struct endpoint_ref {
  wire::endpoint* ep;
};

using service_host_actor = caf::typed_actor<
    caf::reacts_to<deliver_atom, delivery_batch>,
    caf::reacts_to<run_atom, runtime::delivery>,  // its own: a delivery after its injected delay
    caf::reacts_to<restore_atom, state_rows>,
    caf::replies_to<query_atom, std::string, std::string>::with<std::string>,
    caf::replies_to<stats_atom>::with<std::string>>;

using bus_actor = caf::typed_actor<
    caf::reacts_to<init_atom, endpoint_ref>,
    caf::reacts_to<events_atom, inbound_events>,
    caf::reacts_to<answers_atom, answer_batch>,
    caf::reacts_to<crashed_atom, std::string>,
    caf::reacts_to<retry_atom, runtime::delivery>,
    caf::reacts_to<resume_atom, continuation>,
    caf::reacts_to<request_atom, control_call>,
    caf::reacts_to<peer_atom, peer_message>,
    caf::reacts_to<beat_atom, std::string>,
    caf::reacts_to<tick_atom>>;

}  // namespace troupe::protocol

// These never leave the process (CAF's own network layer is not used), so
// they need no serialization.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::runtime::delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::delivery_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::answer_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::state_rows)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::inbound_events)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::control_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::peer_message)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::continuation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(troupe::protocol::endpoint_ref)
