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
#pragma once

#include <cstdint>
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
};

/// Every booking, in the order they were created. Kept as a plain table so
/// that it can move to SQLite unchanged.
struct booking_table {
  std::vector<std::string> order;
  std::unordered_map<std::string, booking_record> by_id;

  booking_record* find(const std::string& id);
  const booking_record* find(const std::string& id) const;
  void insert(booking_record r);
};

class booking_service final : public service {
 public:
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
