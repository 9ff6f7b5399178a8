#include "apps/flight/services/ticket.hpp"

#include <algorithm>
#include <cstdio>

#include "actors/detail_reader.hpp"
#include "actors/service_log.hpp"
#include "actors/row_reader.hpp"
#include "apps/flight/services/settings.hpp"

namespace troupe::flight {

namespace {

constexpr const char* service_name = "ticket";
constexpr const char* tickets_table = "tickets";
constexpr const char* meta_table = "meta";
constexpr const char* counter_key = "counter";
constexpr std::uint64_t max_ticket_number = 9'999'999'999ULL;

} // namespace

std::string format_ticket(std::uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "TRP-%010llu", static_cast<unsigned long long>(number));
  return buf;
}

std::optional<std::uint64_t> parse_ticket(std::string_view ticket) {
  if (ticket.size() != 14 || ticket.substr(0, 4) != "TRP-")
    return std::nullopt;
  std::uint64_t n = 0;
  for (char c : ticket.substr(4)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

void ticket_service::restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
  row_reader r(service_name, table, key, value);
  if (table == meta_table) {
    if (key != counter_key) {
      log_line(service_name, "", "restore: skipping unknown row meta/" + key);
      return;
    }
    const auto last = r.positive("last_number");
    r.check();
    book_.last_number = std::max(book_.last_number, last);
    return;
  }
  if (table != tickets_table) {
    log_line(service_name, "", "restore: skipping unknown table " + table);
    return;
  }
  ticket_record t{key, r.text("ticket"), r.text("seat"), r.text("flight")};
  const auto number = parse_ticket(t.ticket);
  if (!t.ticket.empty() && (!number || *number == 0))
    r.fail("ticket", "must be TRP- and ten digits, not " + t.ticket);
  r.check();
  if (auto held = book_.order.find(*number); held != book_.order.end() && held->second != key)
    fail_restore(service_name, table, key, "ticket " + t.ticket + " is also held by " + held->second);
  if (auto old = book_.by_booking.find(key); old != book_.by_booking.end())
    book_.order.erase(*parse_ticket(old->second.ticket));
  book_.last_number = std::max(book_.last_number, *number);
  book_.order[*number] = key;
  book_.by_booking[key] = std::move(t);
}

handled ticket_service::handle(const event_in& ev) {
  const auto& type = ev.envelope.detail_type;
  if (type != "SeatAssigned")
    return handled::permanent("ticket does not handle " + type + " events");

  detail_reader d(ev.detail);
  const auto booking_id = d.text("booking_id");
  const auto seat = d.text("seat");
  const auto flight = d.text("flight");
  const auto customer = d.text("customer");
  const auto email = d.text("email");
  const auto amount = d.amount("amount");
  if (!d.ok())
    return handled::permanent(d.error());
  if (book_.by_booking.count(booking_id))
    return handled::ok();  // issued once already
  if (book_.last_number >= max_ticket_number)
    return handled::permanent("ticket numbers exhausted (TRP- has ten digits)");

  const auto number = ++book_.last_number;
  const auto ticket = format_ticket(number);
  book_.order[number] = booking_id;
  book_.by_booking.emplace(booking_id, ticket_record{booking_id, ticket, seat, flight});
  ev.state.put(tickets_table, booking_id, {{"ticket", ticket}, {"seat", seat}, {"flight", flight}});
  ev.state.put(meta_table, counter_key, {{"last_number", number}});
  log_line(service_name, ev.envelope.correlation_id, "ticket " + ticket + " for " + booking_id);

  std::vector<event_out> out;
  out.push_back(event_out{"TicketIssued",
                          {{"booking_id", booking_id},
                           {"ticket", ticket},
                           {"seat", seat},
                           {"flight", flight},
                           {"customer", customer},
                           {"email", email},
                           {"amount", amount}},
                          {}});
  return handled::ok(std::move(out));
}

nlohmann::json ticket_service::query(const std::string& what, const nlohmann::json& args) const {
  (void)args;
  if (what != "tickets")
    return nullptr;
  auto rows = nlohmann::json::array();
  for (const auto& [number, id] : book_.order) {
    (void)number;
    const auto& t = book_.by_booking.at(id);
    rows.push_back({{"booking_id", t.booking_id}, {"ticket", t.ticket}, {"seat", t.seat}, {"flight", t.flight}});
  }
  return rows;
}

std::unique_ptr<service> make_ticket(const YAML::Node& settings, const service_context& ctx,
                                     cluster::diagnostics& diag) {
  (void)ctx;
  settings_checker check(diag);
  if (check.map(settings, "services.ticket", true))
    check.keys(settings, {}, "services.ticket");
  if (check.failed())
    return nullptr;
  return std::make_unique<ticket_service>();
}

} // namespace troupe::flight
