#include "apps/flight/services/seat.hpp"

#include "actors/detail_reader.hpp"
#include "actors/service_log.hpp"
#include "actors/row_reader.hpp"
#include "apps/flight/services/settings.hpp"

namespace troupe::flight {

namespace {

constexpr const char* service_name = "seat";
constexpr const char* seats_table = "seats";
constexpr int max_rows = 200;

nlohmann::json text_or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

nlohmann::json stored_row(const seat_assignment& a) {
  return {{"flight", a.flight}, {"seat", text_or_null(a.seat)}, {"reason", text_or_null(a.reason)}};
}

} // namespace

std::optional<seat_preference> parse_seat_preference(std::string_view s) {
  if (s == "window")
    return seat_preference::window;
  if (s == "aisle")
    return seat_preference::aisle;
  if (s == "any")
    return seat_preference::any;
  return std::nullopt;
}

std::optional<std::string> layout_problem(std::string_view layout) {
  if (layout.empty())
    return "must list the seat letters of a row, e.g. \"ABC DEF\"";
  if (layout.front() == ' ' || layout.back() == ' ')
    return "must not start or end with a space";
  bool seen[26] = {};
  char prev = 0;
  for (char c : layout) {
    if (c == ' ') {
      if (prev == ' ')
        return "must separate seat groups with single spaces";
    } else if (c >= 'A' && c <= 'Z') {
      if (seen[c - 'A'])
        return std::string("lists seat '") + c + "' twice";
      seen[c - 'A'] = true;
    } else {
      return "must contain only capital letters and spaces";
    }
    prev = c;
  }
  return std::nullopt;
}

cabin::cabin(int rows, std::string_view layout) {
  for (std::size_t i = 0; i < layout.size(); ++i) {
    if (layout[i] == ' ')
      continue;
    const bool aisle = (i > 0 && layout[i - 1] == ' ') || (i + 1 < layout.size() && layout[i + 1] == ' ');
    letters_.push_back(layout[i]);
    aisle_.push_back(aisle);
    window_.push_back(false);
  }
  if (!letters_.empty()) {
    window_.front() = true;
    window_.back() = true;
  }
  occupant_.resize(static_cast<std::size_t>(rows) * letters_.size());
}

bool cabin::matches(std::size_t letter, seat_preference pref) const {
  switch (pref) {
    case seat_preference::window:
      return window_[letter];
    case seat_preference::aisle:
      return aisle_[letter];
    case seat_preference::any:
      return true;
  }
  return true;
}

std::optional<std::size_t> cabin::pick(seat_preference pref) const {
  std::optional<std::size_t> first_free;
  for (std::size_t i = 0; i < occupant_.size(); ++i) {
    if (!occupant_[i].empty())
      continue;
    if (matches(i % letters_.size(), pref))
      return i;
    if (!first_free)
      first_free = i;
  }
  return first_free;
}

std::string cabin::seat_name(std::size_t index) const {
  return std::to_string(index / letters_.size() + 1) + letters_[index % letters_.size()];
}

std::optional<std::size_t> cabin::index_of(std::string_view name) const {
  if (name.size() < 2 || letters_.empty())
    return std::nullopt;
  const char letter = name.back();
  const auto digits = name.substr(0, name.size() - 1);
  if (digits.size() > 3 || digits.front() == '0')
    return std::nullopt;
  std::size_t row = 0;
  for (char c : digits) {
    if (c < '0' || c > '9')
      return std::nullopt;
    row = row * 10 + static_cast<std::size_t>(c - '0');
  }
  std::size_t col = 0;
  while (col < letters_.size() && letters_[col] != letter)
    ++col;
  if (col == letters_.size())
    return std::nullopt;
  const auto index = (row - 1) * letters_.size() + col;
  if (index >= occupant_.size())
    return std::nullopt;
  return index;
}

void seat_service::restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
  if (table != seats_table) {
    log_line(service_name, "", "restore: skipping unknown table " + table);
    return;
  }
  row_reader r(service_name, table, key, value);
  seat_assignment a;
  a.booking_id = key;
  a.flight = r.text("flight");
  a.seat = r.optional_text("seat").value_or("");
  a.reason = r.optional_text("reason").value_or("");
  if (a.seat.empty() == a.reason.empty())
    r.fail("seat", "exactly one of seat and reason must be set");
  r.check();
  if (auto old = plan_.by_booking.find(key); old != plan_.by_booking.end() && !old->second.seat.empty()) {
    // The same key restored twice: the later row wins, its old seat is free.
    auto f = plan_.flights.find(old->second.flight);
    if (f != plan_.flights.end())
      if (auto index = f->second.index_of(old->second.seat))
        f->second.assign(*index, {});
  }
  if (!a.seat.empty()) {
    auto it = plan_.flights.find(a.flight);
    if (it == plan_.flights.end())
      fail_restore(service_name, table, key,
                   "seat " + a.seat + " on flight " + a.flight + ", which is no longer configured");
    const auto index = it->second.index_of(a.seat);
    if (!index)
      fail_restore(service_name, table, key,
                   "seat " + a.seat + " is not in the configured cabin of " + a.flight +
                       " (were its rows or layout reduced after seats were sold?)");
    const auto& holder = it->second.occupant(*index);
    if (!holder.empty() && holder != key)
      fail_restore(service_name, table, key, "seat " + a.seat + " on " + a.flight + " is also held by " + holder);
    it->second.assign(*index, key);
  }
  plan_.by_booking[key] = std::move(a);
}

handled seat_service::handle(const event_in& ev) {
  const auto& type = ev.envelope.detail_type;
  if (type != "PaymentConfirmed")
    return handled::permanent("seat does not handle " + type + " events");

  detail_reader d(ev.detail);
  const auto booking_id = d.text("booking_id");
  const auto payment_id = d.text("payment_id");
  const auto amount = d.amount("amount");
  const auto customer = d.text("customer");
  const auto email = d.text("email");
  const auto flight = d.text("flight");
  const auto pref_text = d.text("seat_preference");
  const auto pref = parse_seat_preference(pref_text);
  if (!pref_text.empty() && !pref)
    d.fail("seat_preference", "must be one of window, aisle, any");
  if (!d.ok())
    return handled::permanent(d.error());
  if (plan_.by_booking.count(booking_id))
    return handled::ok();  // decided once already

  seat_assignment a{booking_id, flight, {}, {}};
  auto it = plan_.flights.find(flight);
  if (it == plan_.flights.end()) {
    a.reason = "unknown flight " + flight;
  } else if (auto index = it->second.pick(*pref)) {
    it->second.assign(*index, booking_id);
    a.seat = it->second.seat_name(*index);
  } else {
    a.reason = "no seat left on " + flight;
  }

  std::vector<event_out> out;
  if (a.seat.empty()) {
    log_line(service_name, ev.envelope.correlation_id, "no seat for " + booking_id + ": " + a.reason);
    out.push_back(event_out{"SeatUnavailable",
                            {{"booking_id", booking_id},
                             {"payment_id", payment_id},
                             {"amount", amount},
                             {"customer", customer},
                             {"email", email},
                             {"flight", flight},
                             {"reason", a.reason}},
                            {}});
  } else {
    log_line(service_name, ev.envelope.correlation_id, "seat " + a.seat + " on " + flight + " for " + booking_id);
    out.push_back(event_out{"SeatAssigned",
                            {{"booking_id", booking_id},
                             {"seat", a.seat},
                             {"payment_id", payment_id},
                             {"amount", amount},
                             {"customer", customer},
                             {"email", email},
                             {"flight", flight}},
                            {}});
  }
  ev.state.put(seats_table, booking_id, stored_row(a));
  plan_.by_booking.emplace(booking_id, std::move(a));
  return handled::ok(std::move(out));
}

nlohmann::json seat_service::query(const std::string& what, const nlohmann::json& args) const {
  (void)args;
  if (what != "seats")
    return nullptr;
  auto rows = nlohmann::json::array();
  for (const auto& [flight, c] : plan_.flights)
    for (std::size_t i = 0; i < c.size(); ++i)
      if (!c.occupant(i).empty())
        rows.push_back({{"flight", flight}, {"seat", c.seat_name(i)}, {"booking_id", c.occupant(i)}});
  return rows;
}

std::unique_ptr<service> make_seat(const YAML::Node& settings, const service_context& ctx,
                                   cluster::diagnostics& diag) {
  (void)ctx;
  const std::string where = "services.seat";
  settings_checker check(diag);
  std::map<std::string, cabin> flights;
  if (!settings.IsDefined() || settings.IsNull()) {
    check.add(settings, where + ": missing 'flights'");
  } else if (check.map(settings, where, false)) {
    check.keys(settings, {"flights"}, where);
    const auto flights_node = settings_checker::child(settings, "flights");
    if (!flights_node) {
      check.add(settings, where + ": missing 'flights'");
    } else if (!flights_node->IsMap() || flights_node->size() == 0) {
      check.add(*flights_node, where + ".flights: must be a non-empty map from flight number to {rows, layout}");
    } else {
      for (const auto& kv : *flights_node) {
        const auto name = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
        const auto at = where + ".flights." + name;
        if (name.empty()) {
          check.add(kv.first, where + ".flights: a flight number must be a non-empty string");
          continue;
        }
        const auto& f = kv.second;
        if (!check.map(f, at, false))
          continue;
        check.keys(f, {"rows", "layout"}, at);
        std::optional<std::int64_t> rows;
        std::optional<std::string> layout;
        if (auto r = settings_checker::child(f, "rows"))
          rows = check.integer(*r, at + ".rows", 1, max_rows);
        else
          check.add(f, at + ": missing 'rows'");
        if (auto l = settings_checker::child(f, "layout")) {
          if (!l->IsScalar()) {
            check.add(*l, at + ".layout: must be a string such as \"ABC DEF\"");
          } else if (auto problem = layout_problem(l->Scalar())) {
            check.add(*l, at + ".layout: " + *problem);
          } else {
            layout = l->Scalar();
          }
        } else {
          check.add(f, at + ": missing 'layout'");
        }
        if (rows && layout)
          flights.emplace(name, cabin(static_cast<int>(*rows), *layout));
      }
    }
  }
  if (check.failed())
    return nullptr;
  return std::make_unique<seat_service>(std::move(flights));
}

} // namespace troupe::flight
