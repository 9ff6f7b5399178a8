#include "apps/flight/services/booking.hpp"

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

json request() {
  return {{"customer", "Ada Lovelace"}, {"email", "ada@example.com"}, {"flight", "TR100"},
          {"seat_preference", "window"}, {"amount", 249.90},             {"card", "4111111111111111"}};
}

json ticket_issued(const std::string& id) {
  return {{"booking_id", id},        {"ticket", "TRP-0000000001"}, {"seat", "12A"}, {"flight", "TR100"},
          {"customer", "Ada Lovelace"}, {"email", "ada@example.com"}, {"amount", 249.90}};
}

json payment_failed(const std::string& id, const std::string& reason = "card declined") {
  return {{"booking_id", id}, {"reason", reason}, {"customer", "Ada Lovelace"}, {"email", "ada@example.com"},
          {"flight", "TR100"}};
}

json payment_refunded(const std::string& id, const std::string& reason = "no seat left on TR100") {
  return {{"booking_id", id},          {"payment_id", "PAY-" + id}, {"amount", 249.90},
          {"reason", reason},          {"customer", "Ada Lovelace"}, {"email", "ada@example.com"},
          {"flight", "TR100"}};
}

json row_of(const booking_service& s, const std::string& id) {
  const auto rows = s.query("bookings", {{"ids", {id}}});
  if (rows.size() != 1)
    return nullptr;
  return rows[0];
}

TEST(booking, request_creates_a_pending_booking_and_starts_the_saga) {
  booking_service s;
  const auto h = deliver(s, "BookingRequested", request(), "B-1", "", 1'700'000'000'123);
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  const auto& ev = only_event(h);
  EXPECT_EQ(ev.detail_type, "BookingCreated");
  EXPECT_EQ(ev.correlation_id, "B-1");
  EXPECT_EQ(ev.detail, (json{{"booking_id", "B-1"},
                             {"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"flight", "TR100"},
                             {"seat_preference", "window"},
                             {"amount", 249.90},
                             {"card", "4111111111111111"}}));

  const auto row = row_of(s, "B-1");
  EXPECT_EQ(row["id"], "B-1");
  EXPECT_EQ(row["state"], "PENDING");
  EXPECT_TRUE(row["reason"].is_null());
  EXPECT_EQ(row["customer"], "Ada Lovelace");
  EXPECT_EQ(row["email"], "ada@example.com");
  EXPECT_EQ(row["flight"], "TR100");
  EXPECT_TRUE(row["seat"].is_null());
  EXPECT_TRUE(row["ticket"].is_null());
  EXPECT_DOUBLE_EQ(row["amount"].get<double>(), 249.90);
  EXPECT_EQ(row["created_ms"], 1'700'000'000'123);
  EXPECT_EQ(row["updated_ms"], 1'700'000'000'123);
}

TEST(booking, redelivered_request_emits_nothing) {
  booking_service s;
  ASSERT_EQ(deliver(s, "BookingRequested", request(), "B-1").emitted.size(), 1u);
  const auto again = deliver(s, "BookingRequested", request(), "B-1");
  EXPECT_EQ(again.status, outcome::ok);
  EXPECT_TRUE(again.emitted.empty());
  EXPECT_EQ(s.query("bookings", json::object()).size(), 1u);
}

TEST(booking, request_without_an_id_is_permanent) {
  booking_service s;
  wire::envelope env;
  env.detail_type = "BookingRequested";
  const auto detail = request();
  state_changes changes;
  const auto h = s.handle(event_in{env, detail, changes});
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_NE(h.error.find("envelope.id"), std::string::npos) << h.error;
  EXPECT_TRUE(changes.empty());
}

struct bad_request_case {
  const char* name;
  json detail;
  const char* error;  // expected start of the error
};

json with(json d, const char* field, json value) {
  d[field] = std::move(value);
  return d;
}

json without(json d, const char* field) {
  d.erase(field);
  return d;
}

class booking_bad_request : public ::testing::TestWithParam<bad_request_case> {};

TEST_P(booking_bad_request, is_a_permanent_error_naming_the_field) {
  const auto& c = GetParam();
  booking_service s;
  const auto h = deliver(s, "BookingRequested", c.detail, "B-1");
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_TRUE(h.emitted.empty());
  EXPECT_EQ(h.error.rfind(c.error, 0), 0u) << "error was: " << h.error;
  EXPECT_TRUE(s.query("bookings", json::object()).empty()) << "a rejected request must not be stored";
}

INSTANTIATE_TEST_SUITE_P(
    cases, booking_bad_request,
    ::testing::Values(
        bad_request_case{"detail_not_an_object", json::array({1, 2}), "detail: must be an object"},
        bad_request_case{"missing_customer", without(request(), "customer"), "detail.customer: missing"},
        bad_request_case{"customer_not_a_string", with(request(), "customer", 42),
                         "detail.customer: must be a string, not number"},
        bad_request_case{"empty_customer", with(request(), "customer", ""), "detail.customer: must not be empty"},
        bad_request_case{"null_customer", with(request(), "customer", nullptr), "detail.customer: missing"},
        bad_request_case{"missing_email", without(request(), "email"), "detail.email: missing"},
        bad_request_case{"email_without_at", with(request(), "email", "ada.example.com"),
                         "detail.email: must be an email address"},
        bad_request_case{"email_with_two_addresses", with(request(), "email", "ada@example.com, eve@example.com"),
                         "detail.email: must be an email address"},
        bad_request_case{"email_with_line_break", with(request(), "email", "ada@example.com\r\nBcc: eve@x.org"),
                         "detail.email: must be an email address"},
        bad_request_case{"missing_flight", without(request(), "flight"), "detail.flight: missing"},
        bad_request_case{"flight_is_a_list", with(request(), "flight", json::array({"TR100"})),
                         "detail.flight: must be a string, not array"},
        bad_request_case{"missing_seat_preference", without(request(), "seat_preference"),
                         "detail.seat_preference: missing"},
        bad_request_case{"unknown_seat_preference", with(request(), "seat_preference", "middle"),
                         "detail.seat_preference: must be one of window, aisle, any"},
        bad_request_case{"missing_amount", without(request(), "amount"), "detail.amount: missing"},
        bad_request_case{"amount_as_text", with(request(), "amount", "249.90"),
                         "detail.amount: must be a number, not string"},
        bad_request_case{"amount_zero", with(request(), "amount", 0), "detail.amount: must be greater than 0"},
        bad_request_case{"amount_negative", with(request(), "amount", -5.5),
                         "detail.amount: must be greater than 0"},
        bad_request_case{"amount_boolean", with(request(), "amount", true),
                         "detail.amount: must be a number, not boolean"},
        bad_request_case{"missing_card", without(request(), "card"), "detail.card: missing"},
        bad_request_case{"card_as_number", with(request(), "card", 4111111111111111LL),
                         "detail.card: must be a string, not number"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(booking, every_bad_field_is_named) {
  booking_service s;
  auto d = request();
  d.erase("customer");
  d["amount"] = -1;
  const auto h = deliver(s, "BookingRequested", d);
  ASSERT_EQ(h.status, outcome::permanent);
  EXPECT_NE(h.error.find("detail.customer: missing"), std::string::npos) << h.error;
  EXPECT_NE(h.error.find("detail.amount: must be greater than 0"), std::string::npos) << h.error;
}

TEST(booking, accepts_an_integer_amount_and_any_seat_preference) {
  booking_service s;
  auto d = request();
  d["amount"] = 100;
  d["seat_preference"] = "any";
  const auto h = deliver(s, "BookingRequested", d, "B-1");
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  EXPECT_EQ(only_event(h).detail["amount"].get<double>(), 100.0);
  EXPECT_EQ(only_event(h).detail["seat_preference"], "any");
}

// One step of a booking's life after its request.
struct step {
  const char* type;
  std::size_t events;  // expected number of emitted events
};

struct lifecycle_case {
  const char* name;
  std::vector<step> steps;
  const char* state;
  json reason;
  json seat;
  json ticket;
};

json step_detail(const char* type, const std::string& id) {
  const std::string t = type;
  if (t == "TicketIssued")
    return ticket_issued(id);
  if (t == "PaymentFailed")
    return payment_failed(id);
  return payment_refunded(id);
}

class booking_lifecycle : public ::testing::TestWithParam<lifecycle_case> {};

TEST_P(booking_lifecycle, ends_in_exactly_one_final_state) {
  const auto& c = GetParam();
  booking_service s;
  ASSERT_EQ(deliver(s, "BookingRequested", request(), "B-1", "", 1000).status, outcome::ok);
  std::int64_t t = 2000;
  for (const auto& st : c.steps) {
    const auto h = deliver(s, st.type, step_detail(st.type, "B-1"), {}, "B-1", t);
    ASSERT_EQ(h.status, outcome::ok) << st.type << ": " << h.error;
    EXPECT_EQ(h.emitted.size(), st.events) << st.type;
    t += 1000;
  }
  const auto row = row_of(s, "B-1");
  EXPECT_EQ(row["state"], c.state);
  EXPECT_EQ(row["reason"], c.reason);
  EXPECT_EQ(row["seat"], c.seat);
  EXPECT_EQ(row["ticket"], c.ticket);
  EXPECT_EQ(row["created_ms"], 1000);
  EXPECT_EQ(row["updated_ms"], c.steps.empty() ? 1000 : 2000) << "only the first transition updates";
}

INSTANTIATE_TEST_SUITE_P(
    cases, booking_lifecycle,
    ::testing::Values(
        lifecycle_case{"no_answer_yet", {}, "PENDING", nullptr, nullptr, nullptr},
        lifecycle_case{"ticket_confirms", {{"TicketIssued", 0}}, "CONFIRMED", nullptr, "12A", "TRP-0000000001"},
        lifecycle_case{"payment_failure_cancels", {{"PaymentFailed", 1}}, "CANCELLED", "card declined", nullptr,
                       nullptr},
        lifecycle_case{"refund_cancels", {{"PaymentRefunded", 1}}, "CANCELLED", "no seat left on TR100", nullptr,
                       nullptr},
        lifecycle_case{"failure_after_confirmation_is_ignored",
                       {{"TicketIssued", 0}, {"PaymentFailed", 0}},
                       "CONFIRMED",
                       nullptr,
                       "12A",
                       "TRP-0000000001"},
        lifecycle_case{"refund_after_confirmation_is_ignored",
                       {{"TicketIssued", 0}, {"PaymentRefunded", 0}},
                       "CONFIRMED",
                       nullptr,
                       "12A",
                       "TRP-0000000001"},
        lifecycle_case{"ticket_after_cancellation_is_ignored",
                       {{"PaymentFailed", 1}, {"TicketIssued", 0}},
                       "CANCELLED",
                       "card declined",
                       nullptr,
                       nullptr},
        lifecycle_case{"second_cancellation_is_ignored",
                       {{"PaymentFailed", 1}, {"PaymentRefunded", 0}, {"PaymentFailed", 0}},
                       "CANCELLED",
                       "card declined",
                       nullptr,
                       nullptr},
        lifecycle_case{"redelivered_ticket_is_ignored",
                       {{"TicketIssued", 0}, {"TicketIssued", 0}},
                       "CONFIRMED",
                       nullptr,
                       "12A",
                       "TRP-0000000001"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(booking, cancellation_event_carries_what_notification_needs) {
  booking_service s;
  ASSERT_EQ(deliver(s, "BookingRequested", request(), "B-1").status, outcome::ok);
  const auto h = deliver(s, "PaymentRefunded", payment_refunded("B-1", "no seat left on TR100"), {}, "B-1");
  const auto& ev = only_event(h);
  EXPECT_EQ(ev.detail_type, "BookingCancelled");
  EXPECT_EQ(ev.detail, (json{{"booking_id", "B-1"},
                             {"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"flight", "TR100"},
                             {"reason", "no seat left on TR100"}}));
}

struct unknown_booking_case {
  const char* name;
  const char* type;
  json detail;
};

class booking_unknown_id : public ::testing::TestWithParam<unknown_booking_case> {};

TEST_P(booking_unknown_id, is_permanent) {
  booking_service s;
  ASSERT_EQ(deliver(s, "BookingRequested", request(), "B-1").status, outcome::ok);
  const auto h = deliver(s, GetParam().type, GetParam().detail);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, "unknown booking B-404");
  EXPECT_EQ(row_of(s, "B-1")["state"], "PENDING");
}

INSTANTIATE_TEST_SUITE_P(cases, booking_unknown_id,
                         ::testing::Values(unknown_booking_case{"ticket", "TicketIssued", ticket_issued("B-404")},
                                           unknown_booking_case{"failure", "PaymentFailed", payment_failed("B-404")},
                                           unknown_booking_case{"refund", "PaymentRefunded",
                                                                payment_refunded("B-404")}),
                         [](const auto& info) { return std::string(info.param.name); });

struct bad_outcome_case {
  const char* name;
  const char* type;
  json detail;
  const char* error;
};

class booking_bad_outcome : public ::testing::TestWithParam<bad_outcome_case> {};

TEST_P(booking_bad_outcome, is_permanent_and_changes_nothing) {
  const auto& c = GetParam();
  booking_service s;
  ASSERT_EQ(deliver(s, "BookingRequested", request(), "B-1").status, outcome::ok);
  const auto h = deliver(s, c.type, c.detail);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, c.error);
  EXPECT_EQ(row_of(s, "B-1")["state"], "PENDING");
}

INSTANTIATE_TEST_SUITE_P(
    cases, booking_bad_outcome,
    ::testing::Values(
        bad_outcome_case{"ticket_without_seat", "TicketIssued", without(ticket_issued("B-1"), "seat"),
                         "detail.seat: missing"},
        bad_outcome_case{"ticket_without_ticket", "TicketIssued", with(ticket_issued("B-1"), "ticket", 7),
                         "detail.ticket: must be a string, not number"},
        bad_outcome_case{"failure_without_reason", "PaymentFailed", without(payment_failed("B-1"), "reason"),
                         "detail.reason: missing"},
        bad_outcome_case{"refund_without_booking", "PaymentRefunded", without(payment_refunded("B-1"), "booking_id"),
                         "detail.booking_id: missing"},
        bad_outcome_case{"unexpected_event_type", "SeatAssigned", ticket_issued("B-1"),
                         "booking does not handle SeatAssigned events"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(booking, query_restricts_to_ids_and_keeps_creation_order) {
  booking_service s;
  for (const char* id : {"B-1", "B-2", "B-3"})
    ASSERT_EQ(deliver(s, "BookingRequested", request(), id).status, outcome::ok);
  const auto all = s.query("bookings", json::object());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]["id"], "B-1");
  EXPECT_EQ(all[2]["id"], "B-3");
  const auto some = s.query("bookings", {{"ids", {"B-3", "B-404", "B-1"}}});
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0]["id"], "B-3");
  EXPECT_EQ(some[1]["id"], "B-1");
  EXPECT_TRUE(s.query("nonsense", json::object()).is_null());
}

TEST(booking, stats_count_each_state) {
  booking_service s;
  for (const char* id : {"B-1", "B-2", "B-3", "B-4"})
    ASSERT_EQ(deliver(s, "BookingRequested", request(), id).status, outcome::ok);
  ASSERT_EQ(deliver(s, "TicketIssued", ticket_issued("B-1")).status, outcome::ok);
  ASSERT_EQ(deliver(s, "PaymentFailed", payment_failed("B-2")).status, outcome::ok);
  ASSERT_EQ(deliver(s, "PaymentRefunded", payment_refunded("B-3")).status, outcome::ok);
  EXPECT_EQ(s.query("stats", json::object()), (json{{"PENDING", 1}, {"CONFIRMED", 1}, {"CANCELLED", 2}}));
}

// --- durable state -------------------------------------------------------

stored_service booking_with_store() {
  return stored_service([] { return std::make_unique<booking_service>(); });
}

TEST(booking, every_change_records_the_whole_row) {
  auto a = booking_with_store();
  ASSERT_EQ(a.deliver("BookingRequested", request(), "B-1", "", 1000).status, outcome::ok);
  const auto& created = a.last_changes().changes();
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].table, "bookings");
  EXPECT_EQ(created[0].key, "B-1");
  EXPECT_EQ(created[0].value, (json{{"id", "B-1"},
                                    {"state", "PENDING"},
                                    {"reason", nullptr},
                                    {"customer", "Ada Lovelace"},
                                    {"email", "ada@example.com"},
                                    {"flight", "TR100"},
                                    {"seat_preference", "window"},
                                    {"amount", 249.90},
                                    {"seat", nullptr},
                                    {"ticket", nullptr},
                                    {"created_ms", 1000},
                                    {"updated_ms", 1000},
                                    {"seq", 1}}));

  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-1"), {}, "B-1", 2000).status, outcome::ok);
  const auto& confirmed = a.last_changes().changes();
  ASSERT_EQ(confirmed.size(), 1u);
  EXPECT_EQ((*confirmed[0].value)["state"], "CONFIRMED");
  EXPECT_EQ((*confirmed[0].value)["seat"], "12A");
  EXPECT_EQ((*confirmed[0].value)["ticket"], "TRP-0000000001");
  EXPECT_EQ((*confirmed[0].value)["updated_ms"], 2000);

  // Ignored events (already final, a redelivered request) record nothing.
  ASSERT_EQ(a.deliver("PaymentFailed", payment_failed("B-1"), {}, "B-1").status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
  ASSERT_EQ(a.deliver("BookingRequested", request(), "B-1").status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
}

TEST(booking, restore_from_the_recorded_changes_gives_the_same_behaviour) {
  auto a = booking_with_store();
  // Created out of key order, so that the restore (in key order) must
  // rebuild the creation order from the rows.
  for (const char* id : {"B-3", "B-1", "B-4", "B-2", "B-5"})
    ASSERT_EQ(a.deliver("BookingRequested", request(), id, "", 1000).status, outcome::ok);
  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-1"), {}, "B-1", 2000).status, outcome::ok);
  ASSERT_EQ(a.deliver("PaymentFailed", payment_failed("B-2"), {}, "B-2", 2000).status, outcome::ok);
  ASSERT_EQ(a.deliver("PaymentRefunded", payment_refunded("B-3"), {}, "B-3", 2000).status, outcome::ok);
  ASSERT_EQ(a.deliver("PaymentFailed", payment_failed("B-404"), {}, "B-404").status, outcome::permanent);
  ASSERT_EQ(a.store().size(), 5u);

  auto b = a.restored();
  b->start();
  test::expect_restored_like(a, *b, {"bookings", "stats"});
  EXPECT_EQ(b->query("bookings", json::object())[0]["id"], "B-3") << "creation order, not key order";

  // Both go on the same way: B-4 confirms, B-5 is cancelled, B-6 is new
  // and comes last.
  for (const auto& ev : {make_event("TicketIssued", ticket_issued("B-4"), {}, "B-4", 3000),
                         make_event("PaymentRefunded", payment_refunded("B-5"), {}, "B-5", 3000),
                         make_event("BookingRequested", request(), "B-6", "", 3000),
                         make_event("TicketIssued", ticket_issued("B-2"), {}, "B-2", 3000)})
    test::expect_same_effect(a.svc(), *b, ev);
  EXPECT_EQ(b->query("bookings", json::object()), a.svc().query("bookings", json::object()));
  EXPECT_EQ(b->query("bookings", json::object())[5]["id"], "B-6");
  EXPECT_EQ(b->query("stats", json::object()), (json{{"PENDING", 1}, {"CONFIRMED", 2}, {"CANCELLED", 3}}));
}

struct failed_handler_case {
  const char* name;
  const char* type;
  json detail;
};

class booking_failed_handler : public ::testing::TestWithParam<failed_handler_case> {};

TEST_P(booking_failed_handler, records_no_change) {
  auto a = booking_with_store();
  ASSERT_EQ(a.deliver("BookingRequested", request(), "B-1").status, outcome::ok);
  const auto h = a.deliver(GetParam().type, GetParam().detail);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_TRUE(a.last_changes().empty());
  EXPECT_EQ(a.store().rows().at("bookings").at("B-1")["state"], "PENDING");
}

INSTANTIATE_TEST_SUITE_P(
    cases, booking_failed_handler,
    ::testing::Values(failed_handler_case{"bad_request", "BookingRequested", without(request(), "email")},
                      failed_handler_case{"unknown_booking", "TicketIssued", ticket_issued("B-404")},
                      failed_handler_case{"bad_outcome", "PaymentFailed", without(payment_failed("B-1"), "reason")},
                      failed_handler_case{"unexpected_type", "SeatAssigned", ticket_issued("B-1")}),
    [](const auto& info) { return std::string(info.param.name); });

struct bad_row_case {
  const char* name;
  json row;
  const char* error;  // expected part of the message
};

json good_row() {
  booking_record b;
  b.id = "B-1";
  b.customer = "Ada";
  b.email = "ada@example.com";
  b.flight = "TR100";
  b.seat_preference = "any";
  b.amount = 10;
  b.seq = 1;
  return stored_row(b);
}

class booking_bad_row : public ::testing::TestWithParam<bad_row_case> {};

TEST_P(booking_bad_row, stops_the_restore_naming_the_row) {
  booking_service s;
  try {
    s.restore("bookings", "B-1", GetParam().row);
    FAIL() << "restored a bad row";
  } catch (const restore_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("restore booking: bookings/B-1: ", 0), 0u) << what;
    EXPECT_NE(what.find(GetParam().error), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, booking_bad_row,
    ::testing::Values(bad_row_case{"not_an_object", json::array(), "row: must be an object"},
                      bad_row_case{"unknown_state", with(good_row(), "state", "LOST"), "state: must be PENDING"},
                      bad_row_case{"no_seq", without(good_row(), "seq"), "seq: missing"},
                      bad_row_case{"zero_seq", with(good_row(), "seq", 0), "seq: must be an integer of at least 1"},
                      bad_row_case{"id_not_the_key", with(good_row(), "id", "B-2"), "id: differs from the key"},
                      bad_row_case{"amount_text", with(good_row(), "amount", "10"), "amount: must be a finite number"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(booking, restore_skips_unknown_tables_and_accepts_its_own_rows) {
  booking_service s;
  EXPECT_NO_THROW(s.restore("future_table", "x", json::array()));
  EXPECT_NO_THROW(s.restore("bookings", "B-1", good_row()));
  EXPECT_EQ(s.query("bookings", json::object()).size(), 1u);
  auto other = with(good_row(), "id", "B-2");
  EXPECT_THROW(s.restore("bookings", "B-2", other), restore_error) << "seq 1 is B-1's";
}

} // namespace
} // namespace troupe::flight
