// The five services wired together in memory, routed as the cluster's
// rules would route them, to check that the events they exchange fit
// together and every path of the saga ends where it should.
#include <deque>
#include <map>

#include <gtest/gtest.h>

#include "tests/flight/helpers.hpp"
#include "tests/flight/mail_parser.hpp"

namespace troupe::flight {
namespace {

using test::operator<<;

using test::json;

struct saga {
  test::temp_dir dir;
  std::map<std::string, std::unique_ptr<service>> services;
  std::multimap<std::string, std::string> routes;  // detail-type -> service
  std::vector<std::string> trail;                  // detail-types in the order they were handled

  saga() {
    cluster::diagnostics diag("saga.yaml");
    const service_context ctx{"n1", dir.path() / "data", dir.path()};
    services["booking"] = test::build("booking", "", diag, ctx);
    services["payment"] = test::build("payment",
                                      "gateway:\n"
                                      "  declined-cards: [\"4000000000000002\"]\n"
                                      "  default-limit: 1000\n",
                                      diag, ctx);
    services["seat"] = test::build("seat", "flights: { TR100: { rows: 1, layout: \"A B\" } }", diag, ctx);
    services["ticket"] = test::build("ticket", "", diag, ctx);
    services["notification"] = test::build("notification", "from: bookings@troupe.example\nmaildir: mail", diag, ctx);
    if (!diag.empty())
      throw std::runtime_error(diag.to_string());
    for (auto& [name, s] : services)
      s->start();
    routes = {{"BookingRequested", "booking"}, {"BookingCreated", "payment"},     {"PaymentConfirmed", "seat"},
              {"PaymentFailed", "booking"},    {"SeatAssigned", "ticket"},       {"SeatUnavailable", "payment"},
              {"PaymentRefunded", "booking"},  {"TicketIssued", "booking"},      {"TicketIssued", "notification"},
              {"BookingCancelled", "notification"}};
  }

  // Runs a request to the end; returns the booking id.
  std::string book(const std::string& card, double amount, const std::string& pref = "window") {
    struct pending {
      wire::envelope env;
      json detail;
    };
    std::deque<pending> queue;
    pending first;
    first.env.id = wire::make_uuid();
    first.env.detail_type = "BookingRequested";
    first.env.time_ms = wire::now_ms();
    first.detail = {{"customer", "Ada Lovelace"}, {"email", "ada@example.com"}, {"flight", "TR100"},
                    {"seat_preference", pref},    {"amount", amount},           {"card", card}};
    queue.push_back(first);
    while (!queue.empty()) {
      auto ev = std::move(queue.front());
      queue.pop_front();
      trail.push_back(ev.env.detail_type);
      const auto [from, to] = routes.equal_range(ev.env.detail_type);
      if (from == to)
        throw std::runtime_error("no rule for " + ev.env.detail_type);
      for (auto r = from; r != to; ++r) {
        const auto h = services.at(r->second)->handle(event_in{ev.env, ev.detail});
        if (h.status != outcome::ok)
          throw std::runtime_error(r->second + " failed on " + ev.env.detail_type + ": " + h.error);
        for (const auto& out : h.emitted) {
          pending next;
          next.env.id = wire::make_uuid();
          next.env.detail_type = out.detail_type;
          next.env.time_ms = wire::now_ms();
          next.env.correlation_id = out.correlation_id.empty() ? ev.env.correlation_id : out.correlation_id;
          next.env.causation_id = ev.env.id;
          next.detail = out.detail;
          queue.push_back(std::move(next));
        }
      }
    }
    return first.env.id;
  }

  json booking(const std::string& id) const {
    return services.at("booking")->query("bookings", {{"ids", {id}}}).at(0);
  }

  test::parsed_mail mail_for(const std::string& id) const {
    for (const auto& row : services.at("notification")->query("emails", json::object()))
      if (row["booking_id"] == id) {
        std::string why;
        auto m = test::parse_mail(test::read_file(row["file"].get<std::string>()), why);
        if (!m)
          throw std::runtime_error(why);
        return *m;
      }
    throw std::runtime_error("no email for " + id);
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
  EXPECT_EQ(s.services.at("payment")->query("payments", json::object())[0]["state"], "CHARGED");
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
  EXPECT_EQ(s.services.at("payment")->query("payments", json::object())[0]["state"], c.payment_state);
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
  const auto payments = s.services.at("payment")->query("payments", json::object());
  EXPECT_EQ(payments[2]["state"], "REFUNDED");
  EXPECT_EQ(s.services.at("booking")->query("stats", json::object()),
            (json{{"PENDING", 0}, {"CONFIRMED", 2}, {"CANCELLED", 1}}));
  EXPECT_EQ(s.services.at("notification")->query("emails", json::object()).size(), 3u);
}

} // namespace
} // namespace troupe::flight
