#include "apps/flight/services/register.hpp"

#include "apps/flight/services/booking.hpp"
#include "apps/flight/services/notification.hpp"
#include "apps/flight/services/payment.hpp"
#include "apps/flight/services/seat.hpp"
#include "apps/flight/services/ticket.hpp"

namespace troupe::flight {

void register_services(troupe::service_registry& registry) {
  registry.add("booking", make_booking);
  registry.add("payment", make_payment);
  registry.add("seat", make_seat);
  registry.add("ticket", make_ticket);
  registry.add("notification", make_notification);
}

} // namespace troupe::flight
