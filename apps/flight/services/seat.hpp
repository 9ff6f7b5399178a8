// Seat: gives a paid booking a seat, or says there is none.
//
//   services:
//     seat:
//       flights:
//         TR100: { rows: 30, layout: "ABC DEF" }
//
// A layout lists the seat letters of one row; a space is an aisle. Window
// seats are the first and last letters, aisle seats the letters next to a
// space. A booking gets the lowest free seat (by row, then layout order)
// that matches its preference, else the lowest free seat at all; a full or
// unknown flight answers SeatUnavailable, which makes Payment refund. A
// booking is decided once: a refusal stays a refusal.
//
// Stored state (see `service::restore`), one table:
//
//   seats   key: booking id
//           value: {"flight", "seat": "12A"|null, "reason": string|null}
//                  (exactly one of seat and reason is null)
//
// Restoring puts every seat back into its cabin, so the cabins, not the
// rows, answer which seats are free. A stored seat the configured cabin
// does not have (the flight's rows or layout shrank after seats were sold)
// stops the restore rather than be forgotten.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/service.hpp"

namespace troupe::flight {

enum class seat_preference { window, aisle, any };

std::optional<seat_preference> parse_seat_preference(std::string_view s);

/// What is wrong with a layout string, or nullopt when it is usable:
/// capital letters, each at most once, groups separated by single spaces.
std::optional<std::string> layout_problem(std::string_view layout);

/// One flight's seats and who holds them.
class cabin {
 public:
  /// `layout` must have passed `layout_problem`.
  cabin(int rows, std::string_view layout);

  std::size_t size() const { return occupant_.size(); }
  /// The lowest free seat matching `pref`, else the lowest free seat, else nullopt.
  std::optional<std::size_t> pick(seat_preference pref) const;
  /// "12A" for the seat at `index`.
  std::string seat_name(std::size_t index) const;
  /// The index of "12A", or nullopt when this cabin has no such seat.
  std::optional<std::size_t> index_of(std::string_view seat_name) const;
  void assign(std::size_t index, const std::string& booking_id) { occupant_[index] = booking_id; }
  /// The booking holding the seat, empty when free.
  const std::string& occupant(std::size_t index) const { return occupant_[index]; }

 private:
  bool matches(std::size_t letter, seat_preference pref) const;

  std::vector<char> letters_;
  std::vector<bool> window_;  // per letter
  std::vector<bool> aisle_;   // per letter
  std::vector<std::string> occupant_;  // row-major
};

/// What Seat decided for one booking.
struct seat_assignment {
  std::string booking_id;
  std::string flight;
  std::string seat;    // empty when none was available
  std::string reason;  // why not, when `seat` is empty
};

struct seat_plan {
  std::map<std::string, cabin> flights;
  std::unordered_map<std::string, seat_assignment> by_booking;
};

class seat_service final : public service {
 public:
  explicit seat_service(std::map<std::string, cabin> flights) { plan_.flights = std::move(flights); }

  /// Table "seats"; throws `restore_error` for a row it cannot read or a
  /// seat the cabin does not have or already gave to another booking.
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
  handled handle(const event_in& ev) override;

  /// "seats": rows {flight, seat, booking_id} for every assigned seat.
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  seat_plan plan_;
};

std::unique_ptr<service> make_seat(const YAML::Node& settings, const service_context& ctx,
                                   cluster::diagnostics& diag);

} // namespace troupe::flight
