// Ticket: issues the ticket of a booking that has its seat.
//
// Ticket numbers are "TRP-" and ten digits from a counter, so they are
// unique within the service and come out in a predictable order; a booking
// gets exactly one.
//
// Stored state (see `service::restore`), two tables:
//
//   tickets   key: booking id
//             value: {"ticket": "TRP-0000000001", "seat", "flight"}
//   meta      key: "counter"
//             value: {"last_number": the last number issued}
//
// Both are written in the same change as the ticket they count. Restoring
// takes the larger of the counter and the highest ticket, so a number is
// never issued twice even if the counter row were lost.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/service.hpp"

namespace troupe::flight {

/// "TRP-" followed by `number` on ten digits.
std::string format_ticket(std::uint64_t number);
/// The number of a ticket `format_ticket` made, or nullopt.
std::optional<std::uint64_t> parse_ticket(std::string_view ticket);

struct ticket_record {
  std::string booking_id;
  std::string ticket;
  std::string seat;
  std::string flight;
};

struct ticket_book {
  std::uint64_t last_number = 0;  // the last number issued
  std::map<std::uint64_t, std::string> order;  // ticket number -> booking id
  std::unordered_map<std::string, ticket_record> by_booking;
};

class ticket_service final : public service {
 public:
  /// Tables "tickets" and "meta"; throws `restore_error` for a row it cannot
  /// read or a ticket number held by two bookings.
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
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
