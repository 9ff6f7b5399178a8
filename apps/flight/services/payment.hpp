// Payment: charges the card of a new booking and refunds it when the saga
// cannot finish.
//
// The card gateway is simulated and deterministic, driven by settings, so
// that every saga path can be produced on purpose:
//
//   services:
//     payment:
//       gateway:
//         declined-cards: ["4000000000000002"]   # always "card declined"
//         default-limit: 5000                    # absent: no limit
//         limits: { "4111111111111111": 300 }    # per card, overrides the default
//
// A booking is charged at most once and a charge refunded at most once;
// the ledger keeps one row per booking. The payment id is derived from the
// booking ("PAY-<booking id>"), so a real gateway could use it as its
// idempotency key: a charge made just before a crash and made again after
// the restart would then be one charge.
//
// Stored state (see `service::restore`), one table:
//
//   payments   key: booking id
//              value: {"booking_id", "payment_id": string|null (null when declined),
//                      "amount": number, "state": "CHARGED"|"REFUNDED"|"DECLINED",
//                      "reason": string|null (decline or refund reason),
//                      "seq": arrival order from 1}
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/service.hpp"

namespace troupe::flight {

/// The simulated gateway's rules, read from `gateway:`.
struct gateway_rules {
  std::set<std::string> declined_cards;
  std::optional<double> default_limit;  // nullopt: no limit
  std::map<std::string, double> limits;
};

/// True for 12 to 19 ASCII digits.
bool card_shaped(std::string_view card);
/// The Luhn (mod 10) check over a string of digits.
bool luhn_valid(std::string_view digits);

/// Why the gateway refuses `amount` on `card`, or nullopt when it accepts:
/// "invalid card number", then "card declined", then "amount over the card limit".
std::optional<std::string> decline_reason(const gateway_rules& rules, const std::string& card, double amount);

enum class charge_state { charged, refunded, declined };

const char* to_string(charge_state s);

struct charge_record {
  std::string booking_id;
  std::string payment_id;  // empty when declined
  double amount = 0;
  charge_state state = charge_state::charged;
  std::string reason;      // decline or refund reason
  std::uint64_t seq = 0;   // arrival order, from 1
};

/// The stored row of a charge (the shape above).
nlohmann::json stored_row(const charge_record& c);

/// One row per booking, in the order they arrived.
struct charge_ledger {
  std::map<std::uint64_t, std::string> order;  // seq -> booking id
  std::unordered_map<std::string, charge_record> by_booking;
  std::uint64_t last_seq = 0;

  charge_record* find(const std::string& booking_id);
  /// Adds or replaces `r`, giving it the next sequence number when it has none.
  void insert(charge_record r);
};

class payment_service final : public service {
 public:
  explicit payment_service(gateway_rules rules) : rules_(std::move(rules)) {}

  /// Table "payments"; throws `restore_error` for a row it cannot read.
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
  handled handle(const event_in& ev) override;

  /// "payments": rows {booking_id, payment_id, amount, state, reason}.
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  handled on_booking_created(const event_in& ev);
  handled on_seat_unavailable(const event_in& ev);

  gateway_rules rules_;
  charge_ledger ledger_;
};

std::unique_ptr<service> make_payment(const YAML::Node& settings, const service_context& ctx,
                                      cluster::diagnostics& diag);

} // namespace troupe::flight
