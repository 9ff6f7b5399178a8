// The bus actor: carries messages to the node's bus_core
// (actors/runtime/bus_core.hpp) and does what it asks, with CAF, the
// store's writer and the wire endpoint.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/protocol.hpp"
#include "actors/runtime/bus_core.hpp"
#include "store/node_store.hpp"

namespace troupe {

/// Spawns the bus of a node. Until it gets its endpoint (init) it keeps
/// what arrives, in order, and then delivers what the inbox held.
protocol::bus_actor spawn_bus(caf::actor_system& sys, runtime::bus_setup setup,
                              std::map<std::string, protocol::service_host_actor> services,
                              std::shared_ptr<store::node_store> store);

}  // namespace troupe
