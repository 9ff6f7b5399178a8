// Ticket: issues the ticket of a booking that has its seat.
//
// Ticket numbers are "TRP-" and ten digits from a counter, so they are
// unique within the service and come out in a predictable order; a booking
// gets exactly one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/service.hpp"

namespace troupe::flight {

/// "TRP-" followed by `number` on ten digits.
std::string format_ticket(std::uint64_t number);

struct ticket_record {
  std::string booking_id;
  std::string ticket;
  std::string seat;
  std::string flight;
};

struct ticket_book {
  std::uint64_t last_number = 0;  // the last number issued
  std::vector<std::string> order;
  std::unordered_map<std::string, ticket_record> by_booking;
};

class ticket_service final : public service {
 public:
  handled handle(const event_in& ev) override;

  /// "tickets": rows {booking_id, ticket, seat, flight}.
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  ticket_book book_;
};

/// Takes no settings.
std::unique_ptr<service> make_ticket(const YAML::Node& settings, const service_context& ctx,
                                     cluster::diagnostics& diag);

} // namespace troupe::flight
