// The five services wired together in memory, routed as the cluster's
// rules would route them, to check that the events they exchange fit
// together and every path of the saga ends where it should.
#include <deque>
#include <filesystem>
#include <map>
#include <stdexcept>

#include <gtest/gtest.h>

#include "apps/flight/tests/helpers.hpp"
#include "apps/flight/tests/mail_parser.hpp"

namespace troupe::flight {
namespace {

using test::operator<<;

using test::json;

// How a delivery goes wrong, to model a node killed at the worst moments.
enum class crash {
  none,
  before_commit,  // killed after the handler ran, before its transaction: redelivered to a restored service
  after_commit,   // killed after the transaction, before the ack: redelivered to a restored service
};

struct saga {
  test::temp_dir dir;
  std::map<std::string, test::stored_service> services;
  std::multimap<std::string, std::string> routes;  // detail-type -> service
  std::vector<std::string> trail;                  // detail-types in the order they were handled
  crash mode = crash::none;
  int requests = 0;
  std::int64_t clock_ms = 1'700'000'000'000;  // every event's time, one second apart

  explicit saga(crash m = crash::none) : mode(m) {
    const service_context ctx{"n1", dir.path() / "data", dir.path()};
    const std::map<std::string, std::string> settings{
        {"booking", ""},
        {"payment",
         "gateway:\n"
         "  declined-cards: [\"4000000000000002\"]\n"
         "  default-limit: 1000\n"},
        {"seat", "flights: { TR100: { rows: 1, layout: \"A B\" } }"},
        {"ticket", ""},
        {"notification", "from: bookings@troupe.example\nmaildir: mail"},
    };
    for (const auto& [name, yaml] : settings) {
      services.emplace(name, test::stored_service([name = name, yaml = yaml, ctx] {
                         cluster::diagnostics diag("saga.yaml");
                         auto s = test::build(name, yaml, diag, ctx);
                         if (!s)
                           throw std::runtime_error(diag.to_string());
                         return s;
                       }));
    }
    for (auto& [name, s] : services)
      s.svc().start();
    routes = {{"BookingRequested", "booking"}, {"BookingCreated", "payment"},     {"PaymentConfirmed", "seat"},
              {"PaymentFailed", "booking"},    {"SeatAssigned", "ticket"},       {"SeatUnavailable", "payment"},
              {"PaymentRefunded", "booking"},  {"TicketIssued", "booking"},      {"TicketIssued", "notification"},
              {"BookingCancelled", "notification"}};
  }

  service& svc(const std::string& name) { return services.at(name).svc(); }

  // One delivery as the runtime makes it, with the crash this saga models.
  handled deliver(const std::string& name, const test::sent_event& ev) {
    auto& s = services.at(name);
    switch (mode) {
      case crash::none:
        return s.deliver(ev);
      case crash::before_commit:
        s.deliver_and_crash(ev);
        s.restart();
        return s.deliver(ev);
      case crash::after_commit: {
        auto h = s.deliver(ev);
        s.restart();
        const auto again = s.deliver(ev);
        if (again.status != outcome::ok || !again.emitted.empty() || !s.last_changes().empty())
          throw std::runtime_error(name + " had a second effect for " + ev.envelope.detail_type);
        return h;
      }
    }
    throw std::logic_error("crash mode");
  }

  // Runs a request to the end; returns the booking id.
  std::string book(const std::string& card, double amount, const std::string& pref = "window") {
    std::deque<test::sent_event> queue;
    const auto id = "REQ-" + std::to_string(++requests);
    queue.push_back(test::make_event("BookingRequested",
                                     {{"customer", "Ada Lovelace"},
                                      {"email", "ada@example.com"},
                                      {"flight", "TR100"},
                                      {"seat_preference", pref},
                                      {"amount", amount},
                                      {"card", card}},
                                     id, "", clock_ms += 1000));
    while (!queue.empty()) {
      auto ev = std::move(queue.front());
      queue.pop_front();
      trail.push_back(ev.envelope.detail_type);
      const auto [from, to] = routes.equal_range(ev.envelope.detail_type);
      if (from == to)
        throw std::runtime_error("no rule for " + ev.envelope.detail_type);
      for (auto r = from; r != to; ++r) {
        const auto h = deliver(r->second, ev);
        if (h.status != outcome::ok)
          throw std::runtime_error(r->second + " failed on " + ev.envelope.detail_type + ": " + h.error);
        for (const auto& out : h.emitted) {
          auto next = test::make_event(out.detail_type, out.detail, {},
                                       out.correlation_id.empty() ? ev.envelope.correlation_id : out.correlation_id,
                                       clock_ms += 1000);
          next.envelope.causation_id = ev.envelope.id;
          queue.push_back(std::move(next));
        }
      }
    }
    return id;
  }

  // Every path of the saga: two confirmed, then each way to be cancelled.
  void book_every_path() {
    book("4111111111111111", 100, "aisle");   // 1A
    book("4000000000000002", 100);            // card declined
    book("4111111111111111", 100, "window");  // 1B
    book("4111111111111111", 1000.01);        // over the limit
    book("4111111111111111", 100);            // full: refunded
    book("4111111111111112", 100);            // invalid card
  }

  json booking(const std::string& id) { return svc("booking").query("bookings", {{"ids", {id}}}).at(0); }

  test::parsed_mail mail_for(const std::string& id) {
    for (const auto& row : svc("notification").query("emails", json::object()))
      if (row["booking_id"] == id) {
        std::string why;
        auto m = test::parse_mail(test::read_file(row["file"].get<std::string>()), why);
        if (!m)
          throw std::runtime_error(why);
        return *m;
      }
    throw std::runtime_error("no email for " + id);
  }

  // What every service answers, with the emails' files by name only (the
  // directory differs between sagas).
  json answers() {
    auto emails = svc("notification").query("emails", json::object());
    for (auto& e : emails)
      e["file"] = std::filesystem::path(e["file"].get<std::string>()).filename().string();
    return {{"bookings", svc("booking").query("bookings", json::object())},
            {"stats", svc("booking").query("stats", json::object())},
            {"payments", svc("payment").query("payments", json::object())},
            {"seats", svc("seat").query("seats", json::object())},
            {"tickets", svc("ticket").query("tickets", json::object())},
            {"emails", emails}};
  }

  audit_report audit_now(bool quiescent) {
    stored_rows rows;
    for (const auto& [name, s] : services)
      s.store().add_to(rows, name);
    auto mails = read_mail_files(dir.path() / "mail");
    if (!mails)
      throw std::runtime_error(mails.err().message);
    return audit(rows, *mails, quiescent);
  }
};

TEST(saga, happy_path_confirms_and_mails_the_ticket) {
  saga s;
  const auto id = s.book("4111111111111111", 249.90);
  EXPECT_EQ(s.trail, (std::vector<std::string>{"BookingRequested", "BookingCreated", "PaymentConfirmed",
                                               "SeatAssigned", "TicketIssued"}));
  const auto b = s.booking(id);
  EXPECT_EQ(b["state"], "CONFIRMED");
  EXPECT_EQ(b["seat"], "1A");
  EXPECT_EQ(b["ticket"], "TRP-0000000001");
  const auto m = s.mail_for(id);
  EXPECT_EQ(m.get("Subject"), "Booking " + id + " confirmed: flight TR100, seat 1A");
  EXPECT_EQ(m.get("X-Troupe-Booking"), id);
  EXPECT_EQ(s.svc("payment").query("payments", json::object())[0]["state"], "CHARGED");
}

struct failure_path {
  const char* name;
  const char* card;
  double amount;
  const char* reason;
  const char* payment_state;
};

class saga_failure : public ::testing::TestWithParam<failure_path> {};

TEST_P(saga_failure, cancels_and_tells_the_customer_why) {
  const auto& c = GetParam();
  saga s;
  const auto id = s.book(c.card, c.amount);
  const auto b = s.booking(id);
  EXPECT_EQ(b["state"], "CANCELLED");
  EXPECT_EQ(b["reason"], c.reason);
  EXPECT_EQ(s.mail_for(id).get("Subject"), "Booking " + id + " cancelled: " + c.reason);
  EXPECT_EQ(s.svc("payment").query("payments", json::object())[0]["state"], c.payment_state);
}

INSTANTIATE_TEST_SUITE_P(
    cases, saga_failure,
    ::testing::Values(failure_path{"invalid_card", "4111111111111112", 100, "invalid card number", "DECLINED"},
                      failure_path{"declined_card", "4000000000000002", 100, "card declined", "DECLINED"},
                      failure_path{"over_limit", "4111111111111111", 1000.01, "amount over the card limit",
                                   "DECLINED"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(saga, full_flight_refunds_and_cancels) {
  saga s;  // TR100 has two seats
  const auto a = s.book("4111111111111111", 100, "aisle");
  const auto b = s.book("4111111111111111", 100, "aisle");
  s.trail.clear();
  const auto c = s.book("4111111111111111", 100, "aisle");
  EXPECT_EQ(s.trail, (std::vector<std::string>{"BookingRequested", "BookingCreated", "PaymentConfirmed",
                                               "SeatUnavailable", "PaymentRefunded", "BookingCancelled"}));
  EXPECT_EQ(s.booking(a)["seat"], "1A");
  EXPECT_EQ(s.booking(b)["seat"], "1B");
  EXPECT_EQ(s.booking(c)["state"], "CANCELLED");
  EXPECT_EQ(s.booking(c)["reason"], "no seat left on TR100");
  const auto payments = s.svc("payment").query("payments", json::object());
  EXPECT_EQ(payments[2]["state"], "REFUNDED");
  EXPECT_EQ(s.svc("booking").query("stats", json::object()),
            (json{{"PENDING", 0}, {"CONFIRMED", 2}, {"CANCELLED", 1}}));
  EXPECT_EQ(s.svc("notification").query("emails", json::object()).size(), 3u);
}

// --- surviving kill -9 -----------------------------------------------------

TEST(saga, the_audit_finds_every_path_right) {
  saga s;
  s.book_every_path();
  const auto r = s.audit_now(true);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  EXPECT_EQ(r.bookings_by_state, (std::map<std::string, std::size_t>{{"PENDING", 0}, {"CONFIRMED", 2}, {"CANCELLED", 4}, {"DEAD_LETTERED", 0}}));
  EXPECT_EQ(r.cancelled_by_reason, (std::map<std::string, std::size_t>{{"amount over the card limit", 1},
                                                                       {"card declined", 1},
                                                                       {"invalid card number", 1},
                                                                       {"no seat left on TR100", 1}}));
  EXPECT_EQ(r.payments_by_state,
            (std::map<std::string, std::size_t>{{"CHARGED", 2}, {"DECLINED", 3}, {"REFUNDED", 1}}));
  EXPECT_EQ(r.seats_assigned, 2u);
  EXPECT_EQ(r.seats_refused, 1u);
  EXPECT_EQ(r.tickets, 2u);
  EXPECT_EQ(r.emails, 6u);
}

TEST(saga, every_service_restarted_midway_carries_on_where_it_was) {
  saga reference;
  reference.book_every_path();

  saga s;
  s.book("4111111111111111", 100, "aisle");
  s.book("4000000000000002", 100);
  s.book("4111111111111111", 100, "window");
  for (auto& [name, svc] : s.services)
    svc.restart();
  s.book("4111111111111111", 1000.01);
  s.book("4111111111111111", 100);  // the seat map must know TR100 is full
  s.book("4111111111111112", 100);
  EXPECT_EQ(s.answers(), reference.answers());
  const auto r = s.audit_now(true);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
}

struct crash_case {
  const char* name;
  crash mode;
};

class saga_crash : public ::testing::TestWithParam<crash_case> {};

TEST_P(saga_crash, at_every_delivery_changes_nothing_the_customer_sees) {
  saga reference;
  reference.book_every_path();
  saga s(GetParam().mode);
  s.book_every_path();
  EXPECT_EQ(s.answers(), reference.answers());
  EXPECT_EQ(test::files_in(s.dir.path() / "mail" / "new").size(), 6u) << "one email per booking";
  const auto r = s.audit_now(true);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  EXPECT_EQ(r.emails, 6u);
}

INSTANTIATE_TEST_SUITE_P(cases, saga_crash,
                         ::testing::Values(crash_case{"before_commit", crash::before_commit},
                                           crash_case{"after_commit", crash::after_commit}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(saga, the_audit_sees_a_lost_email_row_as_a_violation_until_redelivery) {
  saga s;
  s.book_every_path();
  // As if Notification's commit of REQ-1 were lost and never redelivered.
  auto& rows = s.services.at("notification").store().rows();
  rows["emails"].erase("REQ-1");
  auto r = s.audit_now(true);
  ASSERT_EQ(r.violations.size(), 1u) << r.to_json().dump(2);
  EXPECT_EQ(r.violations[0].rfind("Notification has no record of the email of booking REQ-1", 0), 0u)
      << r.violations[0];
  EXPECT_TRUE(s.audit_now(false).ok()) << "missing is not wrong while events are in flight";
}

} // namespace
} // namespace troupe::flight
