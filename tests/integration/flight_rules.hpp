// The flight saga's routing as the integration tests, the chaos test and
// the bench write it: the same EventBridge rules as configs/flight.yaml.
#pragma once

namespace troupe::test {

inline const char* flight_rules = R"(rules:
  - {name: requests, pattern: {"detail-type": ["BookingRequested"]}, target: booking}
  - {name: charge, pattern: {"source": ["troupe.booking"], "detail-type": ["BookingCreated"]}, target: payment}
  - {name: seat, pattern: {"detail-type": ["PaymentConfirmed"]}, target: seat}
  - {name: refund, pattern: {"detail-type": ["SeatUnavailable"]}, target: payment}
  - {name: ticket, pattern: {"detail-type": ["SeatAssigned"]}, target: ticket}
  - {name: outcomes, pattern: {"detail-type": ["TicketIssued", "PaymentFailed", "PaymentRefunded"]}, target: booking}
  - {name: confirmation, pattern: {"detail-type": ["TicketIssued"]}, target: notification}
  - {name: cancellation, pattern: {"detail-type": ["BookingCancelled"]}, target: notification}
)";

} // namespace troupe::test
