// The flight-booking services, by the names a cluster config uses:
// "booking", "payment", "seat", "ticket" and "notification".
#pragma once

#include "actors/service.hpp"

namespace troupe::flight {

/// Adds the five flight services' factories to `registry`.
void register_services(troupe::service_registry& registry);

} // namespace troupe::flight
