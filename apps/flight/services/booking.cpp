#include "apps/flight/services/booking.hpp"

#include <algorithm>

#include "actors/detail_reader.hpp"
#include "actors/service_log.hpp"
#include "actors/row_reader.hpp"
#include "apps/flight/services/settings.hpp"

namespace troupe::flight {

namespace {

constexpr const char* service_name = "booking";
constexpr const char* bookings_table = "bookings";

std::int64_t event_time(const event_in& ev) {
  return ev.envelope.time_ms > 0 ? ev.envelope.time_ms : wire::now_ms();
}

nlohmann::json optional_text(const std::optional<std::string>& s) {
  return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

nlohmann::json row(const booking_record& b) {
  return {
      {"id", b.id},
      {"state", to_string(b.state)},
      {"reason", optional_text(b.reason)},
      {"customer", b.customer},
      {"email", b.email},
      {"flight", b.flight},
      {"seat", optional_text(b.seat)},
      {"ticket", optional_text(b.ticket)},
      {"amount", b.amount},
      {"created_ms", b.created_ms},
      {"updated_ms", b.updated_ms},
  };
}

std::optional<booking_state> parse_state(const std::string& s) {
  for (auto st : {booking_state::pending, booking_state::confirmed, booking_state::cancelled})
    if (s == to_string(st))
      return st;
  return std::nullopt;
}

} // namespace

nlohmann::json stored_row(const booking_record& b) {
  auto r = row(b);
  r["seat_preference"] = b.seat_preference;
  r["seq"] = b.seq;
  return r;
}

const char* to_string(booking_state s) {
  switch (s) {
    case booking_state::pending:
      return "PENDING";
    case booking_state::confirmed:
      return "CONFIRMED";
    case booking_state::cancelled:
      return "CANCELLED";
  }
  return "?";
}

booking_record* booking_table::find(const std::string& id) {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : &it->second;
}

const booking_record* booking_table::find(const std::string& id) const {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : &it->second;
}

void booking_table::insert(booking_record r) {
  if (r.seq == 0)
    r.seq = last_seq + 1;
  last_seq = std::max(last_seq, r.seq);
  if (auto* old = find(r.id))
    order.erase(old->seq);
  order[r.seq] = r.id;
  by_id[r.id] = std::move(r);
}

void booking_service::restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
  if (table != bookings_table) {
    log_line(service_name, "", "restore: skipping unknown table " + table);
    return;
  }
  row_reader r(service_name, table, key, value);
  booking_record b;
  b.id = r.text("id");
  const auto state = r.text("state");
  b.reason = r.optional_text("reason");
  b.customer = r.text("customer");
  b.email = r.text("email");
  b.flight = r.text("flight");
  b.seat_preference = r.text("seat_preference");
  b.amount = r.number("amount");
  b.seat = r.optional_text("seat");
  b.ticket = r.optional_text("ticket");
  b.created_ms = r.integer("created_ms");
  b.updated_ms = r.integer("updated_ms");
  b.seq = r.positive("seq");
  if (auto st = parse_state(state))
    b.state = *st;
  else if (!state.empty())
    r.fail("state", "must be PENDING, CONFIRMED or CANCELLED, not " + state);
  if (!b.id.empty() && b.id != key)
    r.fail("id", "differs from the key");
  if (b.seq != 0) {
    auto it = table_.order.find(b.seq);
    if (it != table_.order.end() && it->second != key)
      r.fail("seq", "also used by booking " + it->second);
  }
  r.check();
  table_.insert(std::move(b));
}

handled booking_service::handle(const event_in& ev) {
  const auto& type = ev.envelope.detail_type;
  if (type == "BookingRequested")
    return on_requested(ev);
  if (type == "TicketIssued")
    return on_ticket_issued(ev);
  if (type == "PaymentFailed" || type == "PaymentRefunded")
    return on_failed(ev);
  return handled::permanent("booking does not handle " + type + " events");
}

handled booking_service::on_requested(const event_in& ev) {
  const auto& id = ev.envelope.id;
  if (id.empty())
    return handled::permanent("envelope.id: missing (it becomes the booking id)");
  if (table_.find(id))
    return handled::ok();  // a redelivered request: the saga has already started

  detail_reader d(ev.detail);
  booking_record b;
  b.id = id;
  b.customer = d.text("customer");
  b.email = d.address("email");
  b.flight = d.text("flight");
  b.seat_preference = d.text("seat_preference");
  if (!b.seat_preference.empty() && b.seat_preference != "window" && b.seat_preference != "aisle" &&
      b.seat_preference != "any")
    d.fail("seat_preference", "must be one of window, aisle, any");
  b.amount = d.amount("amount");
  const auto card = d.any_text("card");
  if (!d.ok()) {
    log_line(service_name, id, "rejected request: " + d.error());
    return handled::permanent(d.error());
  }
  b.created_ms = b.updated_ms = event_time(ev);

  event_out created;
  created.detail_type = "BookingCreated";
  created.correlation_id = id;
  created.detail = {
      {"booking_id", id},           {"customer", b.customer}, {"email", b.email},
      {"flight", b.flight},         {"seat_preference", b.seat_preference},
      {"amount", b.amount},         {"card", card},
  };
  log_line(service_name, id, "booking created for flight " + b.flight);
  table_.insert(std::move(b));
  ev.state.put(bookings_table, id, stored_row(*table_.find(id)));
  std::vector<event_out> out;
  out.push_back(std::move(created));
  return handled::ok(std::move(out));
}

handled booking_service::on_ticket_issued(const event_in& ev) {
  detail_reader d(ev.detail);
  const auto id = d.text("booking_id");
  const auto seat = d.text("seat");
  const auto ticket = d.text("ticket");
  if (!d.ok())
    return handled::permanent(d.error());
  auto* b = table_.find(id);
  if (!b)
    return handled::permanent("unknown booking " + id);
  if (b->state != booking_state::pending) {
    log_line(service_name, ev.envelope.correlation_id,
             "ignored TicketIssued: booking " + id + " is already " + to_string(b->state));
    return handled::ok();
  }
  b->state = booking_state::confirmed;
  b->seat = seat;
  b->ticket = ticket;
  b->updated_ms = event_time(ev);
  ev.state.put(bookings_table, id, stored_row(*b));
  log_line(service_name, ev.envelope.correlation_id, "booking " + id + " confirmed, ticket " + ticket);
  return handled::ok();
}

handled booking_service::on_failed(const event_in& ev) {
  const auto& type = ev.envelope.detail_type;
  detail_reader d(ev.detail);
  const auto id = d.text("booking_id");
  const auto reason = d.text("reason");
  if (!d.ok())
    return handled::permanent(d.error());
  auto* b = table_.find(id);
  if (!b)
    return handled::permanent("unknown booking " + id);
  if (b->state != booking_state::pending) {
    log_line(service_name, ev.envelope.correlation_id,
             "ignored " + type + ": booking " + id + " is already " + to_string(b->state));
    return handled::ok();
  }
  b->state = booking_state::cancelled;
  b->reason = reason;
  b->updated_ms = event_time(ev);
  ev.state.put(bookings_table, id, stored_row(*b));
  log_line(service_name, ev.envelope.correlation_id, "booking " + id + " cancelled: " + reason);

  event_out cancelled;
  cancelled.detail_type = "BookingCancelled";
  cancelled.detail = {
      {"booking_id", id}, {"customer", b->customer}, {"email", b->email},
      {"flight", b->flight}, {"reason", reason},
  };
  std::vector<event_out> out;
  out.push_back(std::move(cancelled));
  return handled::ok(std::move(out));
}

nlohmann::json booking_service::query(const std::string& what, const nlohmann::json& args) const {
  if (what == "bookings") {
    auto rows = nlohmann::json::array();
    const auto ids = args.is_object() ? args.find("ids") : args.end();
    if (args.is_object() && ids != args.end() && ids->is_array()) {
      for (const auto& id : *ids)
        if (id.is_string())
          if (const auto* b = table_.find(id.get<std::string>()))
            rows.push_back(row(*b));
    } else {
      for (const auto& [seq, id] : table_.order) {
        (void)seq;
        rows.push_back(row(table_.by_id.at(id)));
      }
    }
    return rows;
  }
  if (what == "stats") {
    std::int64_t pending = 0, confirmed = 0, cancelled = 0;
    for (const auto& [id, b] : table_.by_id) {
      (void)id;
      switch (b.state) {
        case booking_state::pending:
          ++pending;
          break;
        case booking_state::confirmed:
          ++confirmed;
          break;
        case booking_state::cancelled:
          ++cancelled;
          break;
      }
    }
    return {{"PENDING", pending}, {"CONFIRMED", confirmed}, {"CANCELLED", cancelled}};
  }
  return nullptr;
}

std::unique_ptr<service> make_booking(const YAML::Node& settings, const service_context& ctx,
                                      cluster::diagnostics& diag) {
  (void)ctx;
  settings_checker check(diag);
  if (check.map(settings, "services.booking", true))
    check.keys(settings, {}, "services.booking");
  if (check.failed())
    return nullptr;
  return std::make_unique<booking_service>();
}

} // namespace troupe::flight
