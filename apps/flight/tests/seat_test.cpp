#include "apps/flight/services/seat.hpp"

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

json payment_confirmed(const std::string& id, const std::string& pref, const std::string& flight = "TR100") {
  return {{"booking_id", id},           {"payment_id", "PAY-" + id},  {"amount", 249.90},
          {"customer", "Ada Lovelace"}, {"email", "ada@example.com"}, {"flight", flight},
          {"seat_preference", pref}};
}

std::unique_ptr<seat_service> make(int rows, const std::string& layout) {
  std::map<std::string, cabin> flights;
  flights.emplace("TR100", cabin(rows, layout));
  return std::make_unique<seat_service>(std::move(flights));
}

struct preference_case {
  const char* name;
  int rows;
  const char* layout;
  std::vector<const char*> preferences;  // one booking each, in order
  std::vector<const char*> seats;        // "" when SeatUnavailable is expected
};

class seat_assignment_order : public ::testing::TestWithParam<preference_case> {};

TEST_P(seat_assignment_order, gives_the_lowest_matching_seat) {
  const auto& c = GetParam();
  ASSERT_EQ(c.preferences.size(), c.seats.size());
  auto s = make(c.rows, c.layout);
  for (std::size_t i = 0; i < c.preferences.size(); ++i) {
    const auto id = "B-" + std::to_string(i + 1);
    const auto h = deliver(*s, "PaymentConfirmed", payment_confirmed(id, c.preferences[i]));
    ASSERT_EQ(h.status, outcome::ok) << h.error;
    const auto& ev = only_event(h);
    if (std::string(c.seats[i]).empty()) {
      EXPECT_EQ(ev.detail_type, "SeatUnavailable") << id;
    } else {
      EXPECT_EQ(ev.detail_type, "SeatAssigned") << id;
      EXPECT_EQ(ev.detail["seat"], c.seats[i]) << id << " wanting " << c.preferences[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, seat_assignment_order,
    ::testing::Values(
        preference_case{"window_is_first_then_last_letter", 2, "ABC DEF", {"window", "window", "window", "window"},
                        {"1A", "1F", "2A", "2F"}},
        preference_case{"aisle_is_next_to_the_space", 2, "ABC DEF", {"aisle", "aisle", "aisle"}, {"1C", "1D", "2C"}},
        preference_case{"any_is_the_lowest_free", 2, "ABC DEF", {"any", "any", "any"}, {"1A", "1B", "1C"}},
        preference_case{"mixed_preferences", 1, "ABC DEF", {"any", "window", "aisle", "any", "aisle"},
                        {"1A", "1F", "1C", "1B", "1D"}},
        preference_case{"window_falls_back_to_any_free_seat", 1, "ABC DEF", {"window", "window", "window"},
                        {"1A", "1F", "1B"}},
        preference_case{"aisle_falls_back_when_aisles_are_taken", 1, "AB CD", {"aisle", "aisle", "aisle"},
                        {"1B", "1C", "1A"}},
        preference_case{"no_aisle_in_layout_falls_back", 2, "ABCD", {"aisle", "window"}, {"1A", "1D"}},
        preference_case{"three_groups_have_four_aisle_seats", 2, "AB CDE FG",
                        {"aisle", "aisle", "aisle", "aisle", "aisle"}, {"1B", "1C", "1E", "1F", "2B"}},
        preference_case{"single_seat_rows", 3, "A", {"aisle", "window", "any"}, {"1A", "2A", "3A"}},
        preference_case{"later_rows_when_the_first_is_full", 2, "AB", {"any", "any", "window"}, {"1A", "1B", "2A"}},
        preference_case{"full_flight", 1, "AB", {"any", "window", "aisle"}, {"1A", "1B", ""}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(seat, assigned_event_carries_the_booking_forward) {
  auto s = make(10, "ABC DEF");
  const auto h = deliver(*s, "PaymentConfirmed", payment_confirmed("B-1", "aisle"));
  EXPECT_EQ(only_event(h).detail, (json{{"booking_id", "B-1"},
                                        {"seat", "1C"},
                                        {"payment_id", "PAY-B-1"},
                                        {"amount", 249.90},
                                        {"customer", "Ada Lovelace"},
                                        {"email", "ada@example.com"},
                                        {"flight", "TR100"}}));
}

TEST(seat, full_flight_answers_seat_unavailable) {
  auto s = make(1, "A");
  ASSERT_EQ(only_event(deliver(*s, "PaymentConfirmed", payment_confirmed("B-1", "any"))).detail_type,
            "SeatAssigned");
  const auto& ev = only_event(deliver(*s, "PaymentConfirmed", payment_confirmed("B-2", "window")));
  EXPECT_EQ(ev.detail_type, "SeatUnavailable");
  EXPECT_EQ(ev.detail, (json{{"booking_id", "B-2"},
                             {"payment_id", "PAY-B-2"},
                             {"amount", 249.90},
                             {"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"flight", "TR100"},
                             {"reason", "no seat left on TR100"}}));
}

TEST(seat, unknown_flight_answers_seat_unavailable) {
  auto s = make(1, "A");
  const auto& ev = only_event(deliver(*s, "PaymentConfirmed", payment_confirmed("B-1", "any", "TR999")));
  EXPECT_EQ(ev.detail_type, "SeatUnavailable");
  EXPECT_EQ(ev.detail["reason"], "unknown flight TR999");
  EXPECT_EQ(ev.detail["flight"], "TR999");
  EXPECT_TRUE(s->query("seats", json::object()).empty());
}

TEST(seat, never_assigns_a_seat_twice) {
  auto s = make(20, "ABC DEFG HJK");  // 200 seats
  const char* prefs[] = {"window", "aisle", "any"};
  std::set<std::string> seats;
  for (int i = 0; i < 200; ++i) {
    const auto& ev = only_event(deliver(*s, "PaymentConfirmed", payment_confirmed("B-" + std::to_string(i), prefs[i % 3])));
    ASSERT_EQ(ev.detail_type, "SeatAssigned") << i;
    EXPECT_TRUE(seats.insert(ev.detail["seat"].get<std::string>()).second) << "seat given twice: " << ev.detail["seat"];
  }
  EXPECT_EQ(only_event(deliver(*s, "PaymentConfirmed", payment_confirmed("B-200", "any"))).detail_type,
            "SeatUnavailable");
  EXPECT_EQ(s->query("seats", json::object()).size(), 200u);
}

TEST(seat, same_booking_again_gets_nothing_new) {
  auto s = make(2, "AB");
  ASSERT_EQ(only_event(deliver(*s, "PaymentConfirmed", payment_confirmed("B-1", "any"))).detail["seat"], "1A");
  const auto again = deliver(*s, "PaymentConfirmed", payment_confirmed("B-1", "any"));
  EXPECT_EQ(again.status, outcome::ok);
  EXPECT_TRUE(again.emitted.empty());
  EXPECT_EQ(only_event(deliver(*s, "PaymentConfirmed", payment_confirmed("B-2", "any"))).detail["seat"], "1B");
  EXPECT_EQ(s->query("seats", json::object()),
            (json{{{"flight", "TR100"}, {"seat", "1A"}, {"booking_id", "B-1"}},
                  {{"flight", "TR100"}, {"seat", "1B"}, {"booking_id", "B-2"}}}));

  // A booking once refused stays refused, even after seats free up elsewhere.
  auto full = make(1, "A");
  ASSERT_EQ(only_event(deliver(*full, "PaymentConfirmed", payment_confirmed("B-1", "any"))).detail_type, "SeatAssigned");
  ASSERT_EQ(only_event(deliver(*full, "PaymentConfirmed", payment_confirmed("B-2", "any"))).detail_type,
            "SeatUnavailable");
  EXPECT_TRUE(deliver(*full, "PaymentConfirmed", payment_confirmed("B-2", "any")).emitted.empty());
}

struct bad_confirmation_case {
  const char* name;
  const char* field;
  json value;  // null removes the field
  const char* error;
};

class seat_bad_confirmation : public ::testing::TestWithParam<bad_confirmation_case> {};

TEST_P(seat_bad_confirmation, is_permanent_naming_the_field) {
  const auto& c = GetParam();
  auto s = make(1, "AB");
  auto d = payment_confirmed("B-1", "any");
  if (c.value.is_null())
    d.erase(c.field);
  else
    d[c.field] = c.value;
  const auto h = deliver(*s, "PaymentConfirmed", d);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, c.error);
  EXPECT_TRUE(s->query("seats", json::object()).empty());
}

INSTANTIATE_TEST_SUITE_P(
    cases, seat_bad_confirmation,
    ::testing::Values(
        bad_confirmation_case{"no_booking_id", "booking_id", nullptr, "detail.booking_id: missing"},
        bad_confirmation_case{"no_payment_id", "payment_id", nullptr, "detail.payment_id: missing"},
        bad_confirmation_case{"bad_preference", "seat_preference", "middle",
                              "detail.seat_preference: must be one of window, aisle, any"},
        bad_confirmation_case{"flight_number", "flight", 100, "detail.flight: must be a string, not number"}),
    [](const auto& info) { return std::string(info.param.name); });

struct layout_case {
  const char* name;
  const char* layout;
  const char* problem;  // nullptr: fine
};

class seat_layout : public ::testing::TestWithParam<layout_case> {};

TEST_P(seat_layout, is_checked) {
  const auto got = layout_problem(GetParam().layout);
  if (GetParam().problem)
    EXPECT_EQ(got.value_or("(accepted)"), GetParam().problem);
  else
    EXPECT_FALSE(got.has_value()) << *got;
}

INSTANTIATE_TEST_SUITE_P(
    cases, seat_layout,
    ::testing::Values(layout_case{"two_groups", "ABC DEF", nullptr}, layout_case{"one_group", "ABCD", nullptr},
                      layout_case{"three_groups", "AB CDEF GH", nullptr}, layout_case{"one_seat", "A", nullptr},
                      layout_case{"empty", "", "must list the seat letters of a row, e.g. \"ABC DEF\""},
                      layout_case{"leading_space", " ABC", "must not start or end with a space"},
                      layout_case{"trailing_space", "ABC ", "must not start or end with a space"},
                      layout_case{"double_space", "AB  CD", "must separate seat groups with single spaces"},
                      layout_case{"lowercase", "abc def", "must contain only capital letters and spaces"},
                      layout_case{"digits", "A1B", "must contain only capital letters and spaces"},
                      layout_case{"repeated_letter", "ABC CDE", "lists seat 'C' twice"}),
    [](const auto& info) { return std::string(info.param.name); });

// --- durable state -------------------------------------------------------

stored_service seat_with_store(int rows, const std::string& layout) {
  return stored_service([rows, layout] { return std::unique_ptr<service>(make(rows, layout)); });
}

TEST(seat, records_the_decision_per_booking) {
  auto a = seat_with_store(1, "A");
  ASSERT_EQ(a.deliver("PaymentConfirmed", payment_confirmed("B-1", "any")).status, outcome::ok);
  ASSERT_EQ(a.last_changes().changes().size(), 1u);
  EXPECT_EQ(a.last_changes().changes()[0].table, "seats");
  EXPECT_EQ(a.last_changes().changes()[0].key, "B-1");
  EXPECT_EQ(a.last_changes().changes()[0].value, (json{{"flight", "TR100"}, {"seat", "1A"}, {"reason", nullptr}}));
  ASSERT_EQ(a.deliver("PaymentConfirmed", payment_confirmed("B-2", "any")).status, outcome::ok);
  EXPECT_EQ(a.last_changes().changes().at(0).value,
            (json{{"flight", "TR100"}, {"seat", nullptr}, {"reason", "no seat left on TR100"}}));
  ASSERT_EQ(a.deliver("PaymentConfirmed", payment_confirmed("B-1", "any")).status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
}

TEST(seat, restore_from_the_recorded_changes_gives_the_same_behaviour) {
  auto a = seat_with_store(2, "AB CD");
  ASSERT_EQ(a.deliver("PaymentConfirmed", payment_confirmed("B-2", "window")).status, outcome::ok);  // 1A
  ASSERT_EQ(a.deliver("PaymentConfirmed", payment_confirmed("B-1", "aisle")).status, outcome::ok);   // 1B
  ASSERT_EQ(a.deliver("PaymentConfirmed", payment_confirmed("B-9", "any", "TR999")).status, outcome::ok);
  ASSERT_EQ(a.deliver("PaymentConfirmed", payment_confirmed("B-3", "window")).status, outcome::ok);  // 1D

  auto b = a.restored();
  b->start();
  test::expect_restored_like(a, *b, {"seats"});

  // The seat map knows what is taken: the next ones get the seats A would
  // give, and nobody gets a taken seat or a second one.
  std::vector<test::sent_event> more;
  for (int i = 4; i <= 8; ++i)
    more.push_back(make_event("PaymentConfirmed", payment_confirmed("B-" + std::to_string(i), "aisle")));
  more.push_back(make_event("PaymentConfirmed", payment_confirmed("B-1", "window")));
  for (const auto& ev : more)
    test::expect_same_effect(a.svc(), *b, ev);
  const auto seats = b->query("seats", json::object());
  EXPECT_EQ(seats, a.svc().query("seats", json::object()));
  EXPECT_EQ(seats, (json{{{"flight", "TR100"}, {"seat", "1A"}, {"booking_id", "B-2"}},
                         {{"flight", "TR100"}, {"seat", "1B"}, {"booking_id", "B-1"}},
                         {{"flight", "TR100"}, {"seat", "1C"}, {"booking_id", "B-4"}},
                         {{"flight", "TR100"}, {"seat", "1D"}, {"booking_id", "B-3"}},
                         {{"flight", "TR100"}, {"seat", "2A"}, {"booking_id", "B-7"}},
                         {{"flight", "TR100"}, {"seat", "2B"}, {"booking_id", "B-5"}},
                         {{"flight", "TR100"}, {"seat", "2C"}, {"booking_id", "B-6"}},
                         {{"flight", "TR100"}, {"seat", "2D"}, {"booking_id", "B-8"}}}));
  // A refusal stays a refusal after the restore, too.
  EXPECT_TRUE(deliver(*b, "PaymentConfirmed", payment_confirmed("B-9", "any", "TR999")).emitted.empty());
}

TEST(seat, failed_handlers_record_no_change) {
  auto a = seat_with_store(1, "AB");
  auto bad = payment_confirmed("B-1", "any");
  bad.erase("payment_id");
  for (const auto& ev : {make_event("PaymentConfirmed", bad),
                         make_event("PaymentConfirmed", payment_confirmed("B-1", "middle")),
                         make_event("SeatAssigned", payment_confirmed("B-1", "any"))}) {
    EXPECT_EQ(a.deliver(ev).status, outcome::permanent) << ev.detail.dump();
    EXPECT_TRUE(a.last_changes().empty()) << ev.detail.dump();
  }
  EXPECT_TRUE(a.svc().query("seats", json::object()).empty());
  EXPECT_EQ(only_event(a.deliver("PaymentConfirmed", payment_confirmed("B-1", "any"))).detail["seat"], "1A");
}

struct seat_name_case {
  const char* name;
  int rows;
  const char* layout;
  const char* seat;
  long index;  // -1: none
};

class seat_index_of : public ::testing::TestWithParam<seat_name_case> {};

TEST_P(seat_index_of, is_the_inverse_of_seat_name) {
  const auto& c = GetParam();
  const cabin k(c.rows, c.layout);
  const auto got = k.index_of(c.seat);
  if (c.index < 0) {
    EXPECT_FALSE(got.has_value()) << *got;
  } else {
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, static_cast<std::size_t>(c.index));
    EXPECT_EQ(k.seat_name(*got), c.seat);
  }
}

INSTANTIATE_TEST_SUITE_P(cases, seat_index_of,
                         ::testing::Values(seat_name_case{"first", 2, "ABC DEF", "1A", 0},
                                           seat_name_case{"after_the_aisle", 2, "ABC DEF", "1D", 3},
                                           seat_name_case{"second_row", 2, "ABC DEF", "2F", 11},
                                           seat_name_case{"three_digit_row", 120, "AB", "120B", 239},
                                           seat_name_case{"row_past_the_cabin", 2, "ABC DEF", "3A", -1},
                                           seat_name_case{"letter_not_in_layout", 2, "ABC DEF", "1G", -1},
                                           seat_name_case{"row_zero", 2, "ABC DEF", "0A", -1},
                                           seat_name_case{"leading_zero", 2, "ABC DEF", "01A", -1},
                                           seat_name_case{"no_row", 2, "ABC DEF", "A", -1},
                                           seat_name_case{"lowercase", 2, "ABC DEF", "1a", -1},
                                           seat_name_case{"empty", 2, "ABC DEF", "", -1}),
                         [](const auto& info) { return std::string(info.param.name); });

struct bad_seat_row_case {
  const char* name;
  const char* key;
  json row;
  const char* error;
};

class seat_bad_row : public ::testing::TestWithParam<bad_seat_row_case> {};

TEST_P(seat_bad_row, stops_the_restore_naming_the_row) {
  const auto& c = GetParam();
  auto s = make(2, "AB");
  s->restore("seats", "B-1", {{"flight", "TR100"}, {"seat", "1A"}, {"reason", nullptr}});
  try {
    s->restore("seats", c.key, c.row);
    FAIL() << "restored a bad row";
  } catch (const restore_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(std::string("restore seat: seats/") + c.key + ": ", 0), 0u) << what;
    EXPECT_NE(what.find(c.error), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, seat_bad_row,
    ::testing::Values(
        bad_seat_row_case{"seat_of_another_booking", "B-2",
                          json{{"flight", "TR100"}, {"seat", "1A"}, {"reason", nullptr}},
                          "seat 1A on TR100 is also held by B-1"},
        bad_seat_row_case{"seat_not_in_the_cabin", "B-2",
                          json{{"flight", "TR100"}, {"seat", "3A"}, {"reason", nullptr}},
                          "seat 3A is not in the configured cabin of TR100"},
        bad_seat_row_case{"flight_no_longer_configured", "B-2",
                          json{{"flight", "TR200"}, {"seat", "1A"}, {"reason", nullptr}},
                          "which is no longer configured"},
        bad_seat_row_case{"neither_seat_nor_reason", "B-2",
                          json{{"flight", "TR100"}, {"seat", nullptr}, {"reason", nullptr}},
                          "exactly one of seat and reason must be set"},
        bad_seat_row_case{"no_flight", "B-2", json{{"seat", "1B"}, {"reason", nullptr}}, "flight: missing"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(seat, a_refusal_for_an_unconfigured_flight_restores) {
  auto s = make(1, "A");
  EXPECT_NO_THROW(s->restore("seats", "B-1", {{"flight", "TR999"}, {"seat", nullptr}, {"reason", "unknown flight TR999"}}));
  EXPECT_TRUE(deliver(*s, "PaymentConfirmed", payment_confirmed("B-1", "any")).emitted.empty());
}

} // namespace
} // namespace troupe::flight
