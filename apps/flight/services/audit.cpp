#include "apps/flight/services/audit.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>

#include "apps/flight/services/maildir.hpp"
#include "apps/flight/services/notification.hpp"
#include "apps/flight/services/ticket.hpp"

namespace troupe::flight {

namespace {

// Tolerant reads: a malformed row must be reported, not crash the audit.
std::string text(const nlohmann::json& row, const char* field) {
  if (!row.is_object())
    return {};
  auto it = row.find(field);
  return it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty())
      out += ", ";
    out += s;
  }
  return out;
}

std::vector<std::string> sorted(const std::set<std::string>& s) { return {s.begin(), s.end()}; }

std::string or_none(const std::string& s) { return s.empty() ? "none" : s; }

struct payment_row {
  std::string payment_id, state;
  bool charged() const { return state == "CHARGED" || state == "REFUNDED"; }
};

struct seat_row {
  std::string flight, seat, reason;
  std::string describe() const { return seat.empty() ? "refused (" + reason + ")" : seat + " on " + flight; }
};

struct ticket_row {
  std::string ticket, seat, flight;
};

struct email_row {
  std::string kind;
};

template <class Row>
using per_booking = std::map<std::string, std::vector<Row>>;

template <class Row>
const std::vector<Row>& rows_of(const per_booking<Row>& m, const std::string& id) {
  static const std::vector<Row> none;
  auto it = m.find(id);
  return it == m.end() ? none : it->second;
}

const char* kind_of_state(const std::string& state) {
  return state == "CONFIRMED" ? "confirmed" : state == "CANCELLED" ? "cancelled" : "";
}

// Reads the header section of a message (up to 64 KB) and returns the
// unfolded value of `name`, or "" when absent.
std::string header_value(const std::string& head, const std::string& name) {
  std::size_t pos = 0;
  while (pos < head.size()) {
    auto end = head.find('\n', pos);
    if (end == std::string::npos)
      end = head.size();
    std::string line = head.substr(pos, end - pos);
    pos = end + 1;
    // Unfold continuation lines.
    while (pos < head.size() && (head[pos] == ' ' || head[pos] == '\t')) {
      auto next = head.find('\n', pos);
      if (next == std::string::npos)
        next = head.size();
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      line += head.substr(pos, next - pos);
      pos = next + 1;
    }
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos || line.compare(0, colon, name) != 0 || colon != name.size())
      continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.erase(0, 1);
    return value;
  }
  return {};
}

} // namespace

void stored_rows::add(const std::string& service, const std::string& table, std::string key, nlohmann::json value) {
  rows[service][table].emplace_back(std::move(key), std::move(value));
}

const table_rows& stored_rows::table(const std::string& service, const std::string& table) const {
  static const table_rows none;
  auto s = rows.find(service);
  if (s == rows.end())
    return none;
  auto t = s->second.find(table);
  return t == s->second.end() ? none : t->second;
}

nlohmann::json audit_report::to_json() const {
  return {
      {"ok", ok()},
      {"bookings", bookings_by_state},
      {"cancelled_by_reason", cancelled_by_reason},
      {"payments", payments_by_state},
      {"seats_assigned", seats_assigned},
      {"seats_refused", seats_refused},
      {"tickets", tickets},
      {"emails", emails},
      {"in_flight", in_flight},
      {"violations", violations},
  };
}

audit_report audit(const stored_rows& stored, const std::vector<mail_file>& mails, bool quiescent,
                   const std::set<std::string>& dead_lettered) {
  audit_report r;
  auto violation = [&r](std::string s) { r.violations.push_back(std::move(s)); };
  for (const char* s : {"PENDING", "CONFIRMED", "CANCELLED", "DEAD_LETTERED"})
    r.bookings_by_state[s] = 0;

  // Every service's rows, grouped by booking.
  per_booking<nlohmann::json> bookings;
  for (const auto& [key, row] : stored.table("booking", "bookings"))
    bookings[key].push_back(row);

  per_booking<payment_row> payments;
  for (const auto& [key, row] : stored.table("payment", "payments")) {
    payment_row p{text(row, "payment_id"), text(row, "state")};
    ++r.payments_by_state[p.state.empty() ? "?" : p.state];
    payments[key].push_back(std::move(p));
  }

  per_booking<seat_row> seats;
  for (const auto& [key, row] : stored.table("seat", "seats")) {
    seat_row s{text(row, "flight"), text(row, "seat"), text(row, "reason")};
    ++(s.seat.empty() ? r.seats_refused : r.seats_assigned);
    seats[key].push_back(std::move(s));
  }

  per_booking<ticket_row> tickets;
  for (const auto& [key, row] : stored.table("ticket", "tickets")) {
    tickets[key].push_back({text(row, "ticket"), text(row, "seat"), text(row, "flight")});
    ++r.tickets;
  }

  per_booking<email_row> email_rows;
  for (const auto& [key, row] : stored.table("notification", "emails"))
    email_rows[key].push_back({text(row, "kind")});

  // A message named by a hashed key belongs to the booking with that key;
  // its header holds only the first 200 bytes of such a long id.
  std::map<std::string, std::string> booking_of_hashed_key;
  for (const auto& m : mails)
    if (!m.key.empty() && m.key.front() == 'H') {
      for (const auto& [id, rows] : bookings) {
        (void)rows;
        if (auto k = mail_key(id); k.front() == 'H')
          booking_of_hashed_key.emplace(std::move(k), id);
      }
      break;
    }
  std::vector<mail_file> resolved = mails;
  for (auto& m : resolved)
    if (auto it = booking_of_hashed_key.find(m.key); it != booking_of_hashed_key.end())
      m.booking_id = it->second;

  per_booking<mail_file> mail_by_booking;
  for (const auto& m : resolved)
    mail_by_booking[m.booking_id].push_back(m);
  r.emails = mails.size();

  // Each booking on its own.
  for (const auto& [id, rows] : bookings) {
    const auto& row = rows.front();
    const auto state = text(row, "state");
    if (rows.size() > 1)
      violation("booking " + id + " is stored " + std::to_string(rows.size()) + " times");

    if (state == "PENDING" && dead_lettered.count(id)) {
      ++r.bookings_by_state["DEAD_LETTERED"];
    } else if (state == "PENDING") {
      ++r.bookings_by_state[state];
      r.in_flight.push_back(id);
      if (quiescent)
        violation("booking " + id + " is still PENDING although nothing is in flight");
    } else if (state == "CONFIRMED") {
      ++r.bookings_by_state[state];
    } else if (state == "CANCELLED") {
      ++r.bookings_by_state[state];
      ++r.cancelled_by_reason[or_none(text(row, "reason"))];
    } else {
      violation("booking " + id + " has no valid state (\"" + state + "\")");
    }
    const bool confirmed = state == "CONFIRMED";
    const bool cancelled = state == "CANCELLED";
    const bool final_state = confirmed || cancelled;

    // Payment: charged at most once, refunded exactly when cancelled after a charge.
    const auto& pays = rows_of(payments, id);
    std::vector<std::string> charges;
    for (const auto& p : pays)
      if (p.charged())
        charges.push_back(or_none(p.payment_id));
    if (charges.size() > 1)
      violation("booking " + id + " was charged " + std::to_string(charges.size()) + " times (" + join(charges) +
                ")");
    else if (pays.size() > 1)
      violation("booking " + id + " has " + std::to_string(pays.size()) + " payment rows");
    for (const auto& p : pays) {
      if (p.state != "CHARGED" && p.state != "REFUNDED" && p.state != "DECLINED")
        violation("the payment of booking " + id + " has no valid state (\"" + p.state + "\")");
      if (p.state == "REFUNDED" && p.payment_id.empty())
        violation("booking " + id + " was refunded without having been charged");
      if (confirmed && p.state == "REFUNDED")
        violation("booking " + id + " is CONFIRMED but its payment " + p.payment_id + " was refunded");
      if (confirmed && p.state == "DECLINED" && charges.empty())
        violation("booking " + id + " is CONFIRMED but its payment was declined");
      if (cancelled && p.state == "CHARGED" && quiescent)
        violation("booking " + id + " is CANCELLED but its charge " + p.payment_id + " was not refunded");
    }
    if (confirmed && pays.empty() && quiescent)
      violation("booking " + id + " is CONFIRMED but was never charged");

    // Seat and ticket: exactly one each when confirmed, none otherwise.
    const auto& seat_rows = rows_of(seats, id);
    std::vector<const seat_row*> seated;
    std::vector<std::string> seat_names, decisions;
    for (const auto& s : seat_rows) {
      decisions.push_back(s.describe());
      if (!s.seat.empty()) {
        seated.push_back(&s);
        seat_names.push_back(s.describe());
      }
    }
    if (seated.size() > 1)
      violation("booking " + id + " was given " + std::to_string(seated.size()) + " seats (" + join(seat_names) +
                ")");
    else if (seat_rows.size() > 1)
      violation("booking " + id + " has " + std::to_string(seat_rows.size()) + " seat decisions (" +
                join(decisions) + ")");
    for (const auto& p : pays)
      if (p.state == "REFUNDED" && !seated.empty())
        violation("booking " + id + " was refunded although it holds seat " + seated.front()->describe());

    const auto& ticket_rows = rows_of(tickets, id);
    std::vector<std::string> ticket_names;
    for (const auto& t : ticket_rows)
      ticket_names.push_back(or_none(t.ticket));
    if (ticket_rows.size() > 1)
      violation("booking " + id + " has " + std::to_string(ticket_rows.size()) + " tickets (" +
                join(ticket_names) + ")");

    if (confirmed) {
      if (seated.empty() && quiescent)
        violation("booking " + id + " is CONFIRMED but has no seat");
      if (ticket_rows.empty() && quiescent)
        violation("booking " + id + " is CONFIRMED but has no ticket");
      if (!seated.empty() && text(row, "seat") != seated.front()->seat)
        violation("booking " + id + " is CONFIRMED with seat " + or_none(text(row, "seat")) + " but Seat gave it " +
                  seated.front()->seat);
      if (!ticket_rows.empty() && text(row, "ticket") != ticket_rows.front().ticket)
        violation("booking " + id + " is CONFIRMED with ticket " + or_none(text(row, "ticket")) +
                  " but Ticket issued " + or_none(ticket_rows.front().ticket));
    }
    if (!confirmed && state != "PENDING") {
      for (const auto* s : seated)
        violation("booking " + id + " is " + or_none(state) + " but holds seat " + s->describe());
      for (const auto& t : ticket_rows)
        violation("booking " + id + " is " + or_none(state) + " but has ticket " + or_none(t.ticket));
    }
    if (!seated.empty() && !ticket_rows.empty()) {
      const auto& t = ticket_rows.front();
      if (t.seat != seated.front()->seat || t.flight != seated.front()->flight)
        violation("ticket " + or_none(t.ticket) + " of booking " + id + " is for seat " + or_none(t.seat) +
                  " on " + or_none(t.flight) + " but Seat gave it " + seated.front()->describe());
    }

    // Email: exactly one per final booking, of the kind of its outcome.
    const auto& mails_of = rows_of(mail_by_booking, id);
    std::vector<std::string> paths;
    for (const auto& m : mails_of)
      paths.push_back(m.path);
    if (mails_of.size() > 1)
      violation("booking " + id + " got " + std::to_string(mails_of.size()) + " emails (" + join(paths) + ")");
    const auto& recorded = rows_of(email_rows, id);
    if (recorded.size() > 1)
      violation("Notification recorded " + std::to_string(recorded.size()) + " emails for booking " + id);
    if (final_state) {
      const std::string want = kind_of_state(state);
      if (mails_of.empty() && quiescent)
        violation("booking " + id + " is " + state + " but no email was sent");
      for (const auto& m : mails_of) {
        if (m.kind.empty())
          violation("email " + m.path + " of booking " + id + " does not say whether it confirms or cancels");
        else if (m.kind != want)
          violation("booking " + id + " is " + state + " but its email " + m.path + " says " + m.kind);
      }
      for (const auto& e : recorded)
        if (e.kind != want)
          violation("booking " + id + " is " + state + " but Notification recorded a " + or_none(e.kind) +
                    " email");
      if (quiescent && recorded.empty() && !mails_of.empty())
        violation("Notification has no record of the email of booking " + id + " (" + join(paths) + ")");
      if (quiescent && !recorded.empty() && mails_of.empty())
        violation("Notification recorded an email for booking " + id + " but the Maildir has none");
    } else if (quiescent) {
      if (!mails_of.empty())
        violation("booking " + id + " is not final (" + or_none(state) + ") but got an email (" + join(paths) + ")");
      if (!recorded.empty())
        violation("booking " + id + " is not final (" + or_none(state) + ") but Notification recorded an email");
    }
  }

  // Across bookings: nothing given twice.
  std::map<std::pair<std::string, std::string>, std::set<std::string>> seat_holders;
  for (const auto& [id, rows] : seats)
    for (const auto& s : rows)
      if (!s.seat.empty())
        seat_holders[{s.flight, s.seat}].insert(id);
  for (const auto& [seat, holders] : seat_holders)
    if (holders.size() > 1)
      violation("seat " + seat.second + " on " + seat.first + " is given to " + std::to_string(holders.size()) +
                " bookings (" + join(sorted(holders)) + ")");

  std::map<std::string, std::set<std::string>> ticket_holders;
  for (const auto& [id, rows] : tickets)
    for (const auto& t : rows)
      ticket_holders[t.ticket].insert(id);
  for (const auto& [ticket, holders] : ticket_holders)
    if (holders.size() > 1)
      violation("ticket " + or_none(ticket) + " is issued to " + std::to_string(holders.size()) + " bookings (" +
                join(sorted(holders)) + ")");

  std::map<std::string, std::set<std::string>> payment_holders;
  for (const auto& [id, rows] : payments)
    for (const auto& p : rows)
      if (!p.payment_id.empty())
        payment_holders[p.payment_id].insert(id);
  for (const auto& [payment, holders] : payment_holders)
    if (holders.size() > 1)
      violation("payment " + payment + " is recorded for " + std::to_string(holders.size()) + " bookings (" +
                join(sorted(holders)) + ")");

  // The counter must stay ahead of every ticket, or a number is issued again.
  for (const auto& [key, row] : stored.table("ticket", "meta")) {
    if (key != "counter")
      continue;
    std::uint64_t last = 0;
    if (row.is_object() && row.contains("last_number") && row["last_number"].is_number_integer() &&
        row["last_number"].get<std::int64_t>() > 0)
      last = row["last_number"].get<std::uint64_t>();
    for (const auto& [ticket, holders] : ticket_holders) {
      const auto number = parse_ticket(ticket);
      if (number && *number > last)
        violation("Ticket's counter (" + std::to_string(last) + ") is behind ticket " + ticket + " of booking " +
                  *holders.begin() + ", so its number could be issued again");
    }
  }

  // Rows and messages of bookings Booking never created.
  if (quiescent) {
    auto orphans = [&](const char* who, const auto& m) {
      for (const auto& [id, rows] : m) {
        (void)rows;
        if (!bookings.count(id))
          violation(std::string(who) + " has a row for booking " + id + ", which does not exist");
      }
    };
    orphans("Payment", payments);
    orphans("Seat", seats);
    orphans("Ticket", tickets);
    orphans("Notification", email_rows);
    for (const auto& m : resolved)
      if (!m.booking_id.empty() && !bookings.count(m.booking_id))
        violation("email " + m.path + " is for booking " + m.booking_id + ", which does not exist");
  }
  for (const auto& m : resolved)
    if (m.booking_id.empty())
      violation("email " + m.path + " names no booking");
  return r;
}

namespace {

/// The message at `path`: its booking (from its name, else its header)
/// and its kind.
result<mail_file> read_mail_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return error{errc::io, path.string() + ": cannot open"};
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad())
    return error{errc::io, path.string() + ": cannot read"};
  auto end = head.find("\r\n\r\n");
  if (end == std::string::npos)
    end = head.find("\n\n");
  if (end != std::string::npos)
    head.resize(end + 1);
  mail_file m;
  m.path = path.string();
  m.kind = header_value(head, "X-Troupe-Outcome");
  std::optional<std::string> id;
  if (auto key = mail_key_of_file(path.filename().string())) {
    id = booking_of_mail_key(*key);
    m.key = std::move(*key);
  }
  m.booking_id = id ? *id : header_value(head, "X-Troupe-Booking");
  return m;
}

/// The Maildir's messages, sorted by path.
result<std::vector<std::string>> sorted_messages(const std::filesystem::path& maildir_root) {
  auto files = maildir(maildir_root).messages();
  if (!files)
    return files.err();
  std::vector<std::string> paths;
  paths.reserve(files->size());
  for (const auto& f : *files)
    paths.push_back(f.string());
  std::sort(paths.begin(), paths.end());
  return paths;
}

} // namespace

result<std::vector<mail_file>> read_mail_files(const std::filesystem::path& maildir_root) {
  auto page = read_mail_page(maildir_root, "", SIZE_MAX);
  if (!page)
    return page.err();
  return std::move(page->mails);
}

result<mail_page> read_mail_page(const std::filesystem::path& maildir_root, const std::string& after,
                                 std::size_t limit) {
  auto paths = sorted_messages(maildir_root);
  if (!paths)
    return paths.err();
  mail_page page;
  auto it = after.empty() ? paths->begin() : std::upper_bound(paths->begin(), paths->end(), after);
  for (; it != paths->end(); ++it) {
    if (page.mails.size() == limit) {
      page.next = page.mails.back().path;
      break;
    }
    auto m = read_mail_file(*it);
    if (!m)
      return m.err();
    page.mails.push_back(std::move(*m));
  }
  return page;
}

nlohmann::json to_json(const mail_file& m) {
  return {{"booking_id", m.booking_id}, {"kind", m.kind}, {"key", m.key}, {"path", m.path}};
}

std::optional<mail_file> mail_file_of(const nlohmann::json& j) {
  mail_file m;
  for (auto [field, into] : {std::pair{"booking_id", &m.booking_id}, std::pair{"kind", &m.kind},
                             std::pair{"key", &m.key}, std::pair{"path", &m.path}}) {
    if (!j.is_object() || !j.contains(field) || !j[field].is_string())
      return std::nullopt;
    *into = j[field].get<std::string>();
  }
  return m;
}

} // namespace troupe::flight
