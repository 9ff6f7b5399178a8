#include "apps/flight/services/payment.hpp"

#include <algorithm>
#include <sstream>

#include "actors/detail_reader.hpp"
#include "actors/service_log.hpp"
#include "actors/row_reader.hpp"
#include "apps/flight/services/settings.hpp"

namespace troupe::flight {

namespace {

constexpr const char* service_name = "payment";
constexpr const char* payments_table = "payments";

nlohmann::json text_or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

std::optional<charge_state> parse_charge_state(const std::string& s) {
  for (auto st : {charge_state::charged, charge_state::refunded, charge_state::declined})
    if (s == to_string(st))
      return st;
  return std::nullopt;
}

// The query's row; the stored row adds the sequence number.
nlohmann::json row(const charge_record& c) {
  return {
      {"booking_id", c.booking_id},
      {"payment_id", text_or_null(c.payment_id)},
      {"amount", c.amount},
      {"state", to_string(c.state)},
      {"reason", text_or_null(c.reason)},
  };
}

std::string format_amount(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

// Reports a configured card number that the gateway could never match.
bool check_card(settings_checker& check, const YAML::Node& n, const std::string& where) {
  if (!n.IsScalar()) {
    check.add(n, where + ": must be a card number (12 to 19 digits)");
    return false;
  }
  const auto& card = n.Scalar();
  if (!card_shaped(card)) {
    check.add(n, where + ": '" + card + "' is not a card number (12 to 19 digits)");
    return false;
  }
  if (!luhn_valid(card)) {
    check.add(n, where + ": '" + card + "' fails the Luhn check, so it is always refused as invalid");
    return false;
  }
  return true;
}

} // namespace

bool card_shaped(std::string_view card) {
  if (card.size() < 12 || card.size() > 19)
    return false;
  for (char c : card)
    if (c < '0' || c > '9')
      return false;
  return true;
}

bool luhn_valid(std::string_view digits) {
  if (digits.empty())
    return false;
  int sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (*it < '0' || *it > '9')
      return false;
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9)
        d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

std::optional<std::string> decline_reason(const gateway_rules& rules, const std::string& card, double amount) {
  if (!card_shaped(card) || !luhn_valid(card))
    return "invalid card number";
  if (rules.declined_cards.count(card))
    return "card declined";
  std::optional<double> limit = rules.default_limit;
  if (auto it = rules.limits.find(card); it != rules.limits.end())
    limit = it->second;
  if (limit && amount > *limit)
    return "amount over the card limit";
  return std::nullopt;
}

const char* to_string(charge_state s) {
  switch (s) {
    case charge_state::charged:
      return "CHARGED";
    case charge_state::refunded:
      return "REFUNDED";
    case charge_state::declined:
      return "DECLINED";
  }
  return "?";
}

charge_record* charge_ledger::find(const std::string& booking_id) {
  auto it = by_booking.find(booking_id);
  return it == by_booking.end() ? nullptr : &it->second;
}

void charge_ledger::insert(charge_record r) {
  if (r.seq == 0)
    r.seq = last_seq + 1;
  last_seq = std::max(last_seq, r.seq);
  if (auto* old = find(r.booking_id))
    order.erase(old->seq);
  order[r.seq] = r.booking_id;
  by_booking[r.booking_id] = std::move(r);
}

nlohmann::json stored_row(const charge_record& c) {
  auto r = row(c);
  r["seq"] = c.seq;
  return r;
}

void payment_service::restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
  if (table != payments_table) {
    log_line(service_name, "", "restore: skipping unknown table " + table);
    return;
  }
  row_reader r(service_name, table, key, value);
  charge_record c;
  c.booking_id = r.text("booking_id");
  c.payment_id = r.optional_text("payment_id").value_or("");
  c.amount = r.number("amount");
  const auto state = r.text("state");
  c.reason = r.optional_text("reason").value_or("");
  c.seq = r.positive("seq");
  if (auto st = parse_charge_state(state))
    c.state = *st;
  else if (!state.empty())
    r.fail("state", "must be CHARGED, REFUNDED or DECLINED, not " + state);
  if ((c.state == charge_state::declined) != c.payment_id.empty())
    r.fail("payment_id", "must be null exactly when the state is DECLINED");
  if (!c.booking_id.empty() && c.booking_id != key)
    r.fail("booking_id", "differs from the key");
  if (c.seq != 0) {
    auto it = ledger_.order.find(c.seq);
    if (it != ledger_.order.end() && it->second != key)
      r.fail("seq", "also used by booking " + it->second);
  }
  r.check();
  ledger_.insert(std::move(c));
}

handled payment_service::handle(const event_in& ev) {
  const auto& type = ev.envelope.detail_type;
  if (type == "BookingCreated")
    return on_booking_created(ev);
  if (type == "SeatUnavailable")
    return on_seat_unavailable(ev);
  return handled::permanent("payment does not handle " + type + " events");
}

handled payment_service::on_booking_created(const event_in& ev) {
  detail_reader d(ev.detail);
  const auto booking_id = d.text("booking_id");
  const auto customer = d.text("customer");
  const auto email = d.text("email");
  const auto flight = d.text("flight");
  const auto seat_preference = d.text("seat_preference");
  const auto amount = d.amount("amount");
  const auto card = d.any_text("card");
  if (!d.ok())
    return handled::permanent(d.error());
  if (ledger_.find(booking_id))
    return handled::ok();  // charged (or declined) once already

  charge_record charge;
  charge.booking_id = booking_id;
  charge.amount = amount;
  std::vector<event_out> out;
  if (auto reason = decline_reason(rules_, card, amount)) {
    charge.state = charge_state::declined;
    charge.reason = *reason;
    log_line(service_name, ev.envelope.correlation_id, "payment for " + booking_id + " failed: " + *reason);
    out.push_back(event_out{"PaymentFailed",
                            {{"booking_id", booking_id},
                             {"reason", *reason},
                             {"customer", customer},
                             {"email", email},
                             {"flight", flight}},
                            {}});
  } else {
    // Derived from the booking, so the same booking always gets the same
    // payment id (an idempotency key, as real gateways use).
    charge.payment_id = "PAY-" + booking_id;
    charge.state = charge_state::charged;
    log_line(service_name, ev.envelope.correlation_id,
             "charged " + format_amount(amount) + " as " + charge.payment_id);
    out.push_back(event_out{"PaymentConfirmed",
                            {{"booking_id", booking_id},
                             {"payment_id", charge.payment_id},
                             {"amount", amount},
                             {"customer", customer},
                             {"email", email},
                             {"flight", flight},
                             {"seat_preference", seat_preference}},
                            {}});
  }
  ledger_.insert(std::move(charge));
  ev.state.put(payments_table, booking_id, stored_row(*ledger_.find(booking_id)));
  return handled::ok(std::move(out));
}

handled payment_service::on_seat_unavailable(const event_in& ev) {
  detail_reader d(ev.detail);
  const auto booking_id = d.text("booking_id");
  const auto payment_id = d.text("payment_id");
  const auto reason = d.text("reason");
  const auto customer = d.text("customer");
  const auto email = d.text("email");
  const auto flight = d.text("flight");
  if (!d.ok())
    return handled::permanent(d.error());
  auto* charge = ledger_.find(booking_id);
  if (!charge || charge->state == charge_state::declined || charge->payment_id != payment_id)
    return handled::permanent("unknown payment " + payment_id + " for booking " + booking_id);
  if (charge->state == charge_state::refunded)
    return handled::ok();  // refunded once already

  charge->state = charge_state::refunded;
  charge->reason = reason;
  ev.state.put(payments_table, booking_id, stored_row(*charge));
  log_line(service_name, ev.envelope.correlation_id,
           "refunded " + format_amount(charge->amount) + " of " + payment_id + ": " + reason);
  std::vector<event_out> out;
  out.push_back(event_out{"PaymentRefunded",
                          {{"booking_id", booking_id},
                           {"payment_id", payment_id},
                           {"amount", charge->amount},
                           {"reason", reason},
                           {"customer", customer},
                           {"email", email},
                           {"flight", flight}},
                          {}});
  return handled::ok(std::move(out));
}

nlohmann::json payment_service::query(const std::string& what, const nlohmann::json& args) const {
  (void)args;
  if (what != "payments")
    return nullptr;
  auto rows = nlohmann::json::array();
  for (const auto& [seq, id] : ledger_.order) {
    (void)seq;
    rows.push_back(row(ledger_.by_booking.at(id)));
  }
  return rows;
}

std::unique_ptr<service> make_payment(const YAML::Node& settings, const service_context& ctx,
                                      cluster::diagnostics& diag) {
  (void)ctx;
  const std::string where = "services.payment";
  settings_checker check(diag);
  gateway_rules rules;
  if (check.map(settings, where, true)) {
    check.keys(settings, {"gateway"}, where);
    if (auto gw = settings_checker::child(settings, "gateway")) {
      const auto at = where + ".gateway";
      if (check.map(*gw, at, false)) {
        check.keys(*gw, {"declined-cards", "default-limit", "limits"}, at);
        if (auto declined = settings_checker::child(*gw, "declined-cards")) {
          if (!declined->IsSequence()) {
            check.add(*declined, at + ".declined-cards: must be a list of card numbers");
          } else {
            std::size_t i = 0;
            for (const auto& card : *declined)
              if (check_card(check, card, at + ".declined-cards[" + std::to_string(i++) + "]"))
                rules.declined_cards.insert(card.Scalar());
          }
        }
        if (auto limit = settings_checker::child(*gw, "default-limit"))
          rules.default_limit = check.number(*limit, at + ".default-limit", 0);
        if (auto limits = settings_checker::child(*gw, "limits")) {
          if (check.map(*limits, at + ".limits", false)) {
            for (const auto& kv : *limits) {
              const auto card = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
              const auto key_ok = check_card(check, kv.first, at + ".limits");
              const auto x = check.number(kv.second, at + ".limits." + card, 0);
              if (key_ok && x)
                rules.limits[card] = *x;
            }
          }
        }
      }
    }
  }
  if (check.failed())
    return nullptr;
  return std::make_unique<payment_service>(std::move(rules));
}

} // namespace troupe::flight
