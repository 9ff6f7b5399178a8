// The actor that hosts one service: its mailbox keeps the deliveries in
// order while the service restarts; the service itself and its
// supervision are in actors/runtime/service_runner.hpp.
#pragma once

#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/protocol.hpp"
#include "actors/runtime/service_runner.hpp"

namespace troupe {

protocol::service_host_actor spawn_service_host(caf::actor_system& sys,
                                                std::shared_ptr<runtime::service_runner> runner,
                                                std::shared_ptr<protocol::bus_inbox> bus);

}  // namespace troupe
