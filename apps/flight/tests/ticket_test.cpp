#include "apps/flight/services/ticket.hpp"

#include <optional>
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "actors/row_reader.hpp"
#include "apps/flight/tests/helpers.hpp"

namespace troupe::flight {
namespace {

using test::operator<<;

using test::deliver;
using test::json;
using test::make_event;
using test::only_event;
using test::stored_service;

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

// --- durable state -------------------------------------------------------

struct parse_case {
  const char* name;
  const char* ticket;
  std::optional<std::uint64_t> number;
};

class ticket_parse : public ::testing::TestWithParam<parse_case> {};

TEST_P(ticket_parse, reads_what_format_ticket_writes) { EXPECT_EQ(parse_ticket(GetParam().ticket), GetParam().number); }

INSTANTIATE_TEST_SUITE_P(cases, ticket_parse,
                         ::testing::Values(parse_case{"first", "TRP-0000000001", 1},
                                           parse_case{"largest", "TRP-9999999999", 9999999999ULL},
                                           parse_case{"nine_digits", "TRP-000000001", std::nullopt},
                                           parse_case{"eleven_digits", "TRP-00000000001", std::nullopt},
                                           parse_case{"other_prefix", "TRX-0000000001", std::nullopt},
                                           parse_case{"not_digits", "TRP-00000000x1", std::nullopt},
                                           parse_case{"empty", "", std::nullopt}),
                         [](const auto& info) { return std::string(info.param.name); });

stored_service ticket_with_store() {
  return stored_service([] { return std::make_unique<ticket_service>(); });
}

TEST(ticket, records_the_ticket_and_the_counter_together) {
  auto a = ticket_with_store();
  ASSERT_EQ(a.deliver("SeatAssigned", seat_assigned("B-1", "3C")).status, outcome::ok);
  const auto& c = a.last_changes().changes();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].table, "tickets");
  EXPECT_EQ(c[0].key, "B-1");
  EXPECT_EQ(c[0].value, (json{{"ticket", "TRP-0000000001"}, {"seat", "3C"}, {"flight", "TR100"}}));
  EXPECT_EQ(c[1].table, "meta");
  EXPECT_EQ(c[1].key, "counter");
  EXPECT_EQ(c[1].value, (json{{"last_number", 1}}));
  ASSERT_EQ(a.deliver("SeatAssigned", seat_assigned("B-1", "3C")).status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
}

TEST(ticket, restore_from_the_recorded_changes_gives_the_same_behaviour) {
  auto a = ticket_with_store();
  for (const char* id : {"B-3", "B-1", "B-2"})
    ASSERT_EQ(a.deliver("SeatAssigned", seat_assigned(id)).status, outcome::ok);
  auto bad = seat_assigned("B-4");
  bad.erase("seat");
  ASSERT_EQ(a.deliver("SeatAssigned", bad).status, outcome::permanent);

  auto b = a.restored();
  b->start();
  test::expect_restored_like(a, *b, {"tickets"});
  EXPECT_EQ(b->query("tickets", json::object())[0]["booking_id"], "B-3") << "issue order, not key order";

  for (const char* id : {"B-4", "B-1", "B-5"})
    test::expect_same_effect(a.svc(), *b, make_event("SeatAssigned", seat_assigned(id)));
  const auto tickets = b->query("tickets", json::object());
  EXPECT_EQ(tickets, a.svc().query("tickets", json::object()));
  ASSERT_EQ(tickets.size(), 5u);
  EXPECT_EQ(tickets[3], (json{{"booking_id", "B-4"}, {"ticket", "TRP-0000000004"}, {"seat", "12A"}, {"flight", "TR100"}}));
  EXPECT_EQ(tickets[4]["ticket"], "TRP-0000000005");
}

struct counter_case {
  const char* name;
  bool drop_counter;       // lose the meta row
  bool drop_last_ticket;   // lose the highest ticket's row
  const char* next;
};

class ticket_counter_restore : public ::testing::TestWithParam<counter_case> {};

TEST_P(ticket_counter_restore, never_issues_a_number_twice) {
  const auto& c = GetParam();
  auto a = ticket_with_store();
  for (const char* id : {"B-1", "B-2", "B-3"})
    ASSERT_EQ(a.deliver("SeatAssigned", seat_assigned(id)).status, outcome::ok);
  auto& rows = a.store().rows();
  if (c.drop_counter)
    rows.erase("meta");
  if (c.drop_last_ticket)
    rows["tickets"].erase("B-3");
  auto b = a.restored();
  EXPECT_EQ(only_event(deliver(*b, "SeatAssigned", seat_assigned("B-9"))).detail["ticket"], c.next);
}

INSTANTIATE_TEST_SUITE_P(cases, ticket_counter_restore,
                         ::testing::Values(counter_case{"both_rows", false, false, "TRP-0000000004"},
                                           counter_case{"counter_lost", true, false, "TRP-0000000004"},
                                           counter_case{"highest_ticket_lost", false, true, "TRP-0000000004"},
                                           counter_case{"both_lost_falls_back", true, true, "TRP-0000000003"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ticket, failed_handlers_record_no_change) {
  auto a = ticket_with_store();
  auto bad = seat_assigned("B-1");
  bad["amount"] = "x";
  for (const auto& ev : {make_event("SeatAssigned", bad), make_event("PaymentConfirmed", seat_assigned("B-1"))}) {
    EXPECT_EQ(a.deliver(ev).status, outcome::permanent);
    EXPECT_TRUE(a.last_changes().empty());
  }
  EXPECT_EQ(a.store().size(), 0u);
}

TEST(ticket, exhausted_numbers_are_permanent_and_record_nothing) {
  ticket_service s;
  s.restore("meta", "counter", {{"last_number", 9999999999ULL}});
  state_changes changes;
  const auto h = deliver(s, "SeatAssigned", seat_assigned("B-1"), {}, {}, 1, &changes);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_TRUE(changes.empty());
}

struct bad_ticket_row_case {
  const char* name;
  const char* table;
  const char* key;
  json row;
  const char* error;
};

class ticket_bad_row : public ::testing::TestWithParam<bad_ticket_row_case> {};

TEST_P(ticket_bad_row, stops_the_restore_naming_the_row) {
  const auto& c = GetParam();
  ticket_service s;
  s.restore("tickets", "B-1", {{"ticket", "TRP-0000000001"}, {"seat", "1A"}, {"flight", "TR100"}});
  try {
    s.restore(c.table, c.key, c.row);
    FAIL() << "restored a bad row";
  } catch (const restore_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(std::string("restore ticket: ") + c.table + "/" + c.key + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(c.error), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, ticket_bad_row,
    ::testing::Values(
        bad_ticket_row_case{"number_of_another_booking", "tickets", "B-2",
                            json{{"ticket", "TRP-0000000001"}, {"seat", "1B"}, {"flight", "TR100"}},
                            "ticket TRP-0000000001 is also held by B-1"},
        bad_ticket_row_case{"not_a_ticket_number", "tickets", "B-2",
                            json{{"ticket", "T-1"}, {"seat", "1B"}, {"flight", "TR100"}},
                            "ticket: must be TRP- and ten digits"},
        bad_ticket_row_case{"ticket_zero", "tickets", "B-2",
                            json{{"ticket", "TRP-0000000000"}, {"seat", "1B"}, {"flight", "TR100"}},
                            "ticket: must be TRP- and ten digits"},
        bad_ticket_row_case{"no_seat", "tickets", "B-2", json{{"ticket", "TRP-0000000002"}, {"flight", "TR100"}},
                            "seat: missing"},
        bad_ticket_row_case{"counter_not_a_number", "meta", "counter", json{{"last_number", "7"}},
                            "last_number: must be an integer of at least 1"}),
    [](const auto& info) { return std::string(info.param.name); });

} // namespace
} // namespace troupe::flight
