#include "actors/flight/register.hpp"

#include "actors/flight/booking.hpp"
#include "actors/flight/notification.hpp"
#include "actors/flight/payment.hpp"
#include "actors/flight/seat.hpp"
#include "actors/flight/ticket.hpp"

namespace troupe::flight {

void register_services(troupe::service_registry& registry) {
  registry.add("booking", make_booking);
  registry.add("payment", make_payment);
  registry.add("seat", make_seat);
  registry.add("ticket", make_ticket);
  registry.add("notification", make_notification);
}

} // namespace troupe::flight
