#include "apps/flight/services/register.hpp"

#include "apps/flight/services/booking.hpp"
#include "apps/flight/services/notification.hpp"
#include "apps/flight/services/payment.hpp"
#include "apps/flight/services/seat.hpp"
#include "apps/flight/services/ticket.hpp"

namespace troupe::flight {

void register_services(troupe::service_registry& registry) {
  // What each may originate: a keyed cluster refuses the rest from it.
  using types = std::vector<std::string>;
  registry.add("booking", make_booking, {types{"BookingCreated", "BookingCancelled"}, types{"BookingRequested"}});
  registry.add("payment", make_payment, {types{"PaymentConfirmed", "PaymentFailed", "PaymentRefunded"}, types{}});
  registry.add("seat", make_seat, {types{"SeatAssigned", "SeatUnavailable"}, types{}});
  registry.add("ticket", make_ticket, {types{"TicketIssued"}, types{}});
  registry.add("notification", make_notification, {types{}, types{}});
}

} // namespace troupe::flight
