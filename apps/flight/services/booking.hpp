// Booking: where a flight booking starts and ends.
//
// It turns a client's BookingRequested into a PENDING booking and starts
// the saga with BookingCreated; the booking's id is the request's event id,
// which also becomes the saga's correlation id. It then only listens for
// how the saga ended:
//
//                 TicketIssued
//   PENDING ─────────────────────────▶ CONFIRMED
//      │      PaymentFailed / PaymentRefunded
//      └─────────────────────────────▶ CANCELLED  (emits BookingCancelled)
//
// CONFIRMED and CANCELLED are final: anything arriving later is ignored,
// so a booking ends in exactly one final state.
//
// Stored state (see `service::restore`), one table:
//
//   bookings   key: booking id
//              value: {"id", "state": "PENDING"|"CONFIRMED"|"CANCELLED",
//                      "reason": string|null, "customer", "email", "flight",
//                      "seat_preference", "amount": number,
//                      "seat": string|null, "ticket": string|null,
//                      "created_ms", "updated_ms", "seq": creation order from 1}
//
// Every change of a booking rewrites its whole row.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/service.hpp"

namespace troupe::flight {

enum class booking_state { pending, confirmed, cancelled };

const char* to_string(booking_state s);

struct booking_record {
  std::string id;
  booking_state state = booking_state::pending;
  std::optional<std::string> reason;  // why it was cancelled
  std::string customer;
  std::string email;
  std::string flight;
  std::string seat_preference;
  double amount = 0;
  std::optional<std::string> seat;
  std::optional<std::string> ticket;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::uint64_t seq = 0;  // creation order, from 1
};

/// The stored row of a booking (the shape above).
nlohmann::json stored_row(const booking_record& b);

/// Every booking, in the order they were created. The order is kept by
/// sequence number, so rows restored in key order rebuild it.
struct booking_table {
  std::map<std::uint64_t, std::string> order;  // seq -> id
  std::unordered_map<std::string, booking_record> by_id;
  std::uint64_t last_seq = 0;

  booking_record* find(const std::string& id);
  const booking_record* find(const std::string& id) const;
  /// Adds `r`, giving it the next sequence number when it has none.
  void insert(booking_record r);
};

class booking_service final : public service {
 public:
  /// Table "bookings"; throws `restore_error` for a row it cannot read.
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
  handled handle(const event_in& ev) override;

  /// "bookings" (args `{"ids": [...]}` restricts the rows) and "stats".
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  handled on_requested(const event_in& ev);
  handled on_ticket_issued(const event_in& ev);
  handled on_failed(const event_in& ev);  // PaymentFailed or PaymentRefunded

  booking_table table_;
};

/// Takes no settings.
std::unique_ptr<service> make_booking(const YAML::Node& settings, const service_context& ctx,
                                      cluster::diagnostics& diag);

} // namespace troupe::flight
