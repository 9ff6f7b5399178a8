#include "actors/flight/ticket.hpp"

#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "tests/flight/helpers.hpp"

namespace troupe::flight {
namespace {

using test::operator<<;

using test::deliver;
using test::json;
using test::only_event;

json seat_assigned(const std::string& id, const std::string& seat = "12A") {
  return {{"booking_id", id},          {"seat", seat},        {"payment_id", "PAY-" + id},
          {"amount", 249.90},          {"customer", "Ada Lovelace"}, {"email", "ada@example.com"},
          {"flight", "TR100"}};
}

struct format_case {
  const char* name;
  std::uint64_t number;
  const char* ticket;
};

class ticket_format : public ::testing::TestWithParam<format_case> {};

TEST_P(ticket_format, is_trp_and_ten_digits) { EXPECT_EQ(format_ticket(GetParam().number), GetParam().ticket); }

INSTANTIATE_TEST_SUITE_P(cases, ticket_format,
                         ::testing::Values(format_case{"first", 1, "TRP-0000000001"},
                                           format_case{"padded", 4242, "TRP-0000004242"},
                                           format_case{"largest", 9999999999ULL, "TRP-9999999999"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ticket, issues_one_ticket_carrying_the_booking_forward) {
  ticket_service s;
  const auto h = deliver(s, "SeatAssigned", seat_assigned("B-1"));
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  const auto& ev = only_event(h);
  EXPECT_EQ(ev.detail_type, "TicketIssued");
  EXPECT_EQ(ev.detail, (json{{"booking_id", "B-1"},
                             {"ticket", "TRP-0000000001"},
                             {"seat", "12A"},
                             {"flight", "TR100"},
                             {"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"amount", 249.90}}));
}

TEST(ticket, numbers_are_unique_and_in_order) {
  ticket_service s;
  static const std::regex format(R"(^TRP-[0-9]{10}$)");
  std::set<std::string> seen;
  for (int i = 1; i <= 50; ++i) {
    const auto ticket = only_event(deliver(s, "SeatAssigned", seat_assigned("B-" + std::to_string(i))))
                            .detail["ticket"]
                            .get<std::string>();
    EXPECT_TRUE(std::regex_match(ticket, format)) << ticket;
    EXPECT_EQ(ticket, format_ticket(static_cast<std::uint64_t>(i)));
    EXPECT_TRUE(seen.insert(ticket).second) << ticket;
  }
}

TEST(ticket, one_ticket_per_booking) {
  ticket_service s;
  ASSERT_EQ(only_event(deliver(s, "SeatAssigned", seat_assigned("B-1"))).detail["ticket"], "TRP-0000000001");
  const auto again = deliver(s, "SeatAssigned", seat_assigned("B-1", "14C"));
  EXPECT_EQ(again.status, outcome::ok);
  EXPECT_TRUE(again.emitted.empty());
  // The redelivery did not use up a number.
  EXPECT_EQ(only_event(deliver(s, "SeatAssigned", seat_assigned("B-2"))).detail["ticket"], "TRP-0000000002");
  EXPECT_EQ(s.query("tickets", json::object()),
            (json{{{"booking_id", "B-1"}, {"ticket", "TRP-0000000001"}, {"seat", "12A"}, {"flight", "TR100"}},
                  {{"booking_id", "B-2"}, {"ticket", "TRP-0000000002"}, {"seat", "12A"}, {"flight", "TR100"}}}));
}

struct bad_seat_case {
  const char* name;
  const char* field;
  json value;  // null removes the field
  const char* error;
};

class ticket_bad_seat : public ::testing::TestWithParam<bad_seat_case> {};

TEST_P(ticket_bad_seat, is_permanent_and_uses_no_number) {
  const auto& c = GetParam();
  ticket_service s;
  auto d = seat_assigned("B-1");
  if (c.value.is_null())
    d.erase(c.field);
  else
    d[c.field] = c.value;
  const auto h = deliver(s, "SeatAssigned", d);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, c.error);
  EXPECT_EQ(only_event(deliver(s, "SeatAssigned", seat_assigned("B-2"))).detail["ticket"], "TRP-0000000001");
}

INSTANTIATE_TEST_SUITE_P(
    cases, ticket_bad_seat,
    ::testing::Values(bad_seat_case{"no_booking_id", "booking_id", nullptr, "detail.booking_id: missing"},
                      bad_seat_case{"no_seat", "seat", nullptr, "detail.seat: missing"},
                      bad_seat_case{"empty_seat", "seat", "", "detail.seat: must not be empty"},
                      bad_seat_case{"amount_text", "amount", "x", "detail.amount: must be a number, not string"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ticket, other_events_are_permanent_errors) {
  ticket_service s;
  const auto h = deliver(s, "PaymentConfirmed", seat_assigned("B-1"));
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, "ticket does not handle PaymentConfirmed events");
}

} // namespace
} // namespace troupe::flight
