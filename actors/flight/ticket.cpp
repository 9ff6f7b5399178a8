#include "actors/flight/ticket.hpp"

#include <cstdio>

#include "actors/flight/detail.hpp"
#include "actors/flight/log.hpp"
#include "actors/flight/settings.hpp"

namespace troupe::flight {

namespace {

constexpr const char* service_name = "ticket";
constexpr std::uint64_t max_ticket_number = 9'999'999'999ULL;

} // namespace

std::string format_ticket(std::uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "TRP-%010llu", static_cast<unsigned long long>(number));
  return buf;
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

  const auto ticket = format_ticket(++book_.last_number);
  book_.order.push_back(booking_id);
  book_.by_booking.emplace(booking_id, ticket_record{booking_id, ticket, seat, flight});
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
  for (const auto& id : book_.order) {
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
