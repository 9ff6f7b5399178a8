// The bus of a node: its bus_core (actors/runtime/bus_core.hpp) run on the
// node's wire thread, which is the node's event loop. Events, control
// requests, peers' messages and heartbeats reach the core straight from the
// sockets that took them; the store commits on the same thread before it
// sleeps, and what a commit releases (a publish, a reply) is sent in the
// same pass. Only the services run elsewhere, in CAF actors: their answers
// are posted to the loop; and so do reads of the store for `read` requests,
// each in a detached actor (a thread of its own) on a read-only connection.
//
//   socket ─▶ core ─▶ deliver (CAF) ─▶ service ─▶ answers (posted) ─▶ core
//     ─▶ store job ─▶ commit at the end of the pass ─▶ publish, reply ─▶ socket
//
// Measured against a bus actor of its own, which took every message
// through the CAF scheduler and every commit through a writer thread: see
// the README's Benchmarks.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/protocol.hpp"
#include "actors/runtime/bus_core.hpp"
#include "store/node_store.hpp"
#include "wire/endpoint.hpp"

namespace troupe {

class node_bus;

/// Makes the bus of a node. Hand `handlers()` to the endpoint that it runs
/// on, and the bus to the service hosts as their inbox; it starts (delivers
/// what the inbox held, ticks) on the endpoint's thread once that is up.
/// `store_path` is the store's file, which `read` requests read on
/// connections of their own (empty: a store in memory, which they cannot).
std::shared_ptr<node_bus> make_bus(caf::actor_system& sys, runtime::bus_setup setup,
                                   std::shared_ptr<store::node_store> store, std::string store_path);

class node_bus : public protocol::bus_inbox {
 public:
  /// The service hosts it delivers to; before the endpoint starts.
  virtual void add_service(const std::string& name, protocol::service_host_actor host) = 0;
  /// The endpoint's callbacks: each runs the core on the endpoint's thread.
  virtual wire::endpoint_handlers handlers(std::function<void(int, const std::string&)> log) = 0;
  /// The node's metrics in Prometheus's format, and the streams some
  /// consumer has not acked (each with its lowest ack). On the endpoint's
  /// thread only: post it there.
  using metrics_then =
      std::function<void(std::string text, std::vector<std::pair<std::string, std::uint64_t>> lagging)>;
  virtual void prometheus(const metrics_then& then) = 0;
};

}  // namespace troupe
