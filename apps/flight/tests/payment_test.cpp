#include "apps/flight/services/payment.hpp"

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

struct luhn_case {
  const char* name;
  const char* digits;
  bool valid;
};

class payment_luhn : public ::testing::TestWithParam<luhn_case> {};

TEST_P(payment_luhn, checks_the_mod_10_sum) { EXPECT_EQ(luhn_valid(GetParam().digits), GetParam().valid); }

INSTANTIATE_TEST_SUITE_P(cases, payment_luhn,
                         ::testing::Values(luhn_case{"visa_test_card", "4111111111111111", true},
                                           luhn_case{"visa_last_digit_off", "4111111111111112", false},
                                           luhn_case{"mastercard_test_card", "5555555555554444", true},
                                           luhn_case{"amex_15_digits", "378282246310005", true},
                                           luhn_case{"discover", "6011000990139424", true},
                                           luhn_case{"swapped_digits", "4111111111111161", false},
                                           luhn_case{"zero", "0", true},
                                           luhn_case{"empty", "", false},
                                           luhn_case{"not_digits", "41111111111111a1", false}),
                         [](const auto& info) { return std::string(info.param.name); });

gateway_rules rules() {
  gateway_rules r;
  r.declined_cards = {"4000000000000002"};
  r.default_limit = 1000;
  r.limits = {{"5555555555554444", 300}, {"4242424242424242", 5000}};
  return r;
}

struct gateway_case {
  const char* name;
  gateway_rules rules;
  const char* card;
  double amount;
  const char* reason;  // nullptr: accepted
};

class payment_gateway : public ::testing::TestWithParam<gateway_case> {};

TEST_P(payment_gateway, decides_in_order_invalid_declined_limit) {
  const auto& c = GetParam();
  const auto got = decline_reason(c.rules, c.card, c.amount);
  if (c.reason) {
    ASSERT_TRUE(got.has_value()) << "expected refusal: " << c.reason;
    EXPECT_EQ(*got, c.reason);
  } else {
    EXPECT_FALSE(got.has_value()) << "refused: " << got.value_or("");
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, payment_gateway,
    ::testing::Values(
        gateway_case{"valid_card_within_limit", rules(), "4111111111111111", 249.90, nullptr},
        gateway_case{"luhn_failure", rules(), "4111111111111112", 10, "invalid card number"},
        gateway_case{"eleven_digits", rules(), "41111111112", 10, "invalid card number"},
        gateway_case{"twelve_digits", rules(), "123456789015", 10, nullptr},
        gateway_case{"nineteen_digits", rules(), "4111111111111111110", 10, nullptr},
        gateway_case{"twenty_digits", rules(), "41111111111111111115", 10, "invalid card number"},
        gateway_case{"dashes", rules(), "4111-1111-1111-1111", 10, "invalid card number"},
        gateway_case{"spaces", rules(), "4111 1111 1111 1111", 10, "invalid card number"},
        gateway_case{"empty", rules(), "", 10, "invalid card number"},
        gateway_case{"invalid_beats_over_limit", rules(), "4111111111111112", 99999, "invalid card number"},
        gateway_case{"declined_card", rules(), "4000000000000002", 10, "card declined"},
        gateway_case{"declined_beats_over_limit", rules(), "4000000000000002", 99999, "card declined"},
        gateway_case{"exactly_the_default_limit", rules(), "4111111111111111", 1000, nullptr},
        gateway_case{"over_the_default_limit", rules(), "4111111111111111", 1000.01,
                     "amount over the card limit"},
        gateway_case{"card_limit_lower_than_default", rules(), "5555555555554444", 300.01,
                     "amount over the card limit"},
        gateway_case{"exactly_the_card_limit", rules(), "5555555555554444", 300, nullptr},
        gateway_case{"card_limit_higher_than_default", rules(), "4242424242424242", 4999.99, nullptr},
        gateway_case{"over_the_higher_card_limit", rules(), "4242424242424242", 5000.5,
                     "amount over the card limit"},
        gateway_case{"no_limit_configured", gateway_rules{}, "4111111111111111", 1e9, nullptr}),
    [](const auto& info) { return std::string(info.param.name); });

json booking_created(const std::string& id, const std::string& card = "4111111111111111", double amount = 249.90) {
  return {{"booking_id", id},          {"customer", "Ada Lovelace"}, {"email", "ada@example.com"},
          {"flight", "TR100"},         {"seat_preference", "aisle"},  {"amount", amount},
          {"card", card}};
}

json seat_unavailable(const std::string& id, const std::string& payment_id,
                      const std::string& reason = "no seat left on TR100") {
  return {{"booking_id", id},           {"payment_id", payment_id}, {"amount", 249.90},
          {"customer", "Ada Lovelace"}, {"email", "ada@example.com"}, {"flight", "TR100"},
          {"reason", reason}};
}

TEST(payment, charge_confirms_with_a_deterministic_payment_id) {
  payment_service s(rules());
  const auto h = deliver(s, "BookingCreated", booking_created("B-1"), {}, "B-1");
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  const auto& ev = only_event(h);
  EXPECT_EQ(ev.detail_type, "PaymentConfirmed");
  EXPECT_TRUE(ev.correlation_id.empty()) << "the runtime carries the saga's id forward";
  EXPECT_EQ(ev.detail, (json{{"booking_id", "B-1"},
                             {"payment_id", "PAY-B-1"},
                             {"amount", 249.90},
                             {"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"flight", "TR100"},
                             {"seat_preference", "aisle"}}));
  EXPECT_FALSE(ev.detail.contains("card")) << "the card number stops at Payment";

  payment_service other(rules());
  EXPECT_EQ(only_event(deliver(other, "BookingCreated", booking_created("B-1"))).detail["payment_id"], "PAY-B-1");
  EXPECT_EQ(only_event(deliver(other, "BookingCreated", booking_created("B-2"))).detail["payment_id"], "PAY-B-2");
}

struct failure_case {
  const char* name;
  const char* card;
  double amount;
  const char* reason;
};

class payment_failure : public ::testing::TestWithParam<failure_case> {};

TEST_P(payment_failure, emits_payment_failed_with_the_reason) {
  const auto& c = GetParam();
  payment_service s(rules());
  const auto h = deliver(s, "BookingCreated", booking_created("B-1", c.card, c.amount));
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  const auto& ev = only_event(h);
  EXPECT_EQ(ev.detail_type, "PaymentFailed");
  EXPECT_EQ(ev.detail, (json{{"booking_id", "B-1"},
                             {"reason", c.reason},
                             {"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"flight", "TR100"}}));
  const auto rows = s.query("payments", json::object());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["state"], "DECLINED");
  EXPECT_EQ(rows[0]["reason"], c.reason);
  EXPECT_TRUE(rows[0]["payment_id"].is_null());
}

INSTANTIATE_TEST_SUITE_P(cases, payment_failure,
                         ::testing::Values(failure_case{"invalid", "1234", 10, "invalid card number"},
                                           failure_case{"declined", "4000000000000002", 10, "card declined"},
                                           failure_case{"over_limit", "5555555555554444", 300.5,
                                                        "amount over the card limit"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(payment, a_booking_is_charged_once) {
  payment_service s(rules());
  ASSERT_EQ(deliver(s, "BookingCreated", booking_created("B-1")).emitted.size(), 1u);
  const auto again = deliver(s, "BookingCreated", booking_created("B-1"));
  EXPECT_EQ(again.status, outcome::ok);
  EXPECT_TRUE(again.emitted.empty());
  // A declined booking is not retried either.
  ASSERT_EQ(deliver(s, "BookingCreated", booking_created("B-2", "4000000000000002")).emitted.size(), 1u);
  EXPECT_TRUE(deliver(s, "BookingCreated", booking_created("B-2", "4111111111111111")).emitted.empty());
  EXPECT_EQ(s.query("payments", json::object()).size(), 2u);
}

TEST(payment, seat_unavailable_refunds_once) {
  payment_service s(rules());
  ASSERT_EQ(deliver(s, "BookingCreated", booking_created("B-1")).status, outcome::ok);
  const auto h = deliver(s, "SeatUnavailable", seat_unavailable("B-1", "PAY-B-1"));
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  const auto& ev = only_event(h);
  EXPECT_EQ(ev.detail_type, "PaymentRefunded");
  EXPECT_EQ(ev.detail, (json{{"booking_id", "B-1"},
                             {"payment_id", "PAY-B-1"},
                             {"amount", 249.90},
                             {"reason", "no seat left on TR100"},
                             {"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"flight", "TR100"}}));
  const auto again = deliver(s, "SeatUnavailable", seat_unavailable("B-1", "PAY-B-1"));
  EXPECT_EQ(again.status, outcome::ok);
  EXPECT_TRUE(again.emitted.empty());

  const auto rows = s.query("payments", json::object());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (json{{"booking_id", "B-1"},
                           {"payment_id", "PAY-B-1"},
                           {"amount", 249.90},
                           {"state", "REFUNDED"},
                           {"reason", "no seat left on TR100"}}));
}

TEST(payment, refund_amount_is_what_was_charged) {
  payment_service s(rules());
  ASSERT_EQ(deliver(s, "BookingCreated", booking_created("B-1", "4111111111111111", 99.5)).status, outcome::ok);
  auto unavailable = seat_unavailable("B-1", "PAY-B-1");
  unavailable["amount"] = 1000000;
  const auto& ev = only_event(deliver(s, "SeatUnavailable", unavailable));
  EXPECT_EQ(ev.detail["amount"].get<double>(), 99.5);
}

struct bad_refund_case {
  const char* name;
  json detail;
  const char* error;
};

class payment_bad_refund : public ::testing::TestWithParam<bad_refund_case> {};

TEST_P(payment_bad_refund, is_permanent) {
  payment_service s(rules());
  ASSERT_EQ(deliver(s, "BookingCreated", booking_created("B-1")).status, outcome::ok);
  ASSERT_EQ(deliver(s, "BookingCreated", booking_created("B-2", "4000000000000002")).status, outcome::ok);
  const auto h = deliver(s, "SeatUnavailable", GetParam().detail);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, GetParam().error);
  EXPECT_EQ(s.query("payments", json::object())[0]["state"], "CHARGED");
}

INSTANTIATE_TEST_SUITE_P(
    cases, payment_bad_refund,
    ::testing::Values(
        bad_refund_case{"unknown_booking", seat_unavailable("B-404", "PAY-B-404"),
                        "unknown payment PAY-B-404 for booking B-404"},
        bad_refund_case{"payment_of_another_booking", seat_unavailable("B-1", "PAY-B-9"),
                        "unknown payment PAY-B-9 for booking B-1"},
        bad_refund_case{"declined_booking_has_no_payment", seat_unavailable("B-2", "PAY-B-2"),
                        "unknown payment PAY-B-2 for booking B-2"},
        bad_refund_case{"missing_payment_id", json{{"booking_id", "B-1"}, {"reason", "x"}, {"customer", "A"},
                                                  {"email", "a@b"}, {"flight", "TR100"}},
                        "detail.payment_id: missing"},
        bad_refund_case{"missing_reason", json{{"booking_id", "B-1"}, {"payment_id", "PAY-B-1"}, {"customer", "A"},
                                              {"email", "a@b"}, {"flight", "TR100"}},
                        "detail.reason: missing"}),
    [](const auto& info) { return std::string(info.param.name); });

struct bad_charge_case {
  const char* name;
  const char* field;
  json value;  // null removes the field
  const char* error;
};

class payment_bad_charge : public ::testing::TestWithParam<bad_charge_case> {};

TEST_P(payment_bad_charge, is_permanent_naming_the_field) {
  const auto& c = GetParam();
  payment_service s(rules());
  auto d = booking_created("B-1");
  if (c.value.is_null())
    d.erase(c.field);
  else
    d[c.field] = c.value;
  const auto h = deliver(s, "BookingCreated", d);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, c.error);
  EXPECT_TRUE(s.query("payments", json::object()).empty());
}

INSTANTIATE_TEST_SUITE_P(
    cases, payment_bad_charge,
    ::testing::Values(bad_charge_case{"no_booking_id", "booking_id", nullptr, "detail.booking_id: missing"},
                      bad_charge_case{"amount_text", "amount", "12", "detail.amount: must be a number, not string"},
                      bad_charge_case{"amount_zero", "amount", 0, "detail.amount: must be greater than 0"},
                      bad_charge_case{"card_number", "card", 4111111111111111LL,
                                      "detail.card: must be a string, not number"},
                      bad_charge_case{"no_email", "email", nullptr, "detail.email: missing"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(payment, ignores_nothing_silently) {
  payment_service s(rules());
  const auto h = deliver(s, "SeatAssigned", json::object());
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, "payment does not handle SeatAssigned events");
}

// --- durable state -------------------------------------------------------

stored_service payment_with_store() {
  return stored_service([] { return std::make_unique<payment_service>(rules()); });
}

TEST(payment, records_one_row_per_booking_and_rewrites_it_on_refund) {
  auto a = payment_with_store();
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-1")).status, outcome::ok);
  ASSERT_EQ(a.last_changes().changes().size(), 1u);
  EXPECT_EQ(a.last_changes().changes()[0].table, "payments");
  EXPECT_EQ(a.last_changes().changes()[0].key, "B-1");
  EXPECT_EQ(a.last_changes().changes()[0].value, (json{{"booking_id", "B-1"},
                                                       {"payment_id", "PAY-B-1"},
                                                       {"amount", 249.90},
                                                       {"state", "CHARGED"},
                                                       {"reason", nullptr},
                                                       {"seq", 1}}));
  ASSERT_EQ(a.deliver("SeatUnavailable", seat_unavailable("B-1", "PAY-B-1")).status, outcome::ok);
  EXPECT_EQ((*a.last_changes().changes().at(0).value)["state"], "REFUNDED");
  EXPECT_EQ((*a.last_changes().changes().at(0).value)["reason"], "no seat left on TR100");
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-2", "4000000000000002")).status, outcome::ok);
  EXPECT_EQ(a.last_changes().changes().at(0).value, (json{{"booking_id", "B-2"},
                                                          {"payment_id", nullptr},
                                                          {"amount", 249.90},
                                                          {"state", "DECLINED"},
                                                          {"reason", "card declined"},
                                                          {"seq", 2}}));
  // Redeliveries record nothing.
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-1")).status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
  ASSERT_EQ(a.deliver("SeatUnavailable", seat_unavailable("B-1", "PAY-B-1")).status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
}

TEST(payment, restore_from_the_recorded_changes_gives_the_same_behaviour) {
  auto a = payment_with_store();
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-3")).status, outcome::ok);
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-1", "4000000000000002")).status, outcome::ok);
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-2", "4111111111111111", 99.5)).status, outcome::ok);
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-4")).status, outcome::ok);
  ASSERT_EQ(a.deliver("SeatUnavailable", seat_unavailable("B-3", "PAY-B-3")).status, outcome::ok);
  ASSERT_EQ(a.deliver("SeatUnavailable", seat_unavailable("B-1", "PAY-B-1")).status, outcome::permanent);

  auto b = a.restored();
  b->start();
  test::expect_restored_like(a, *b, {"payments"});
  EXPECT_EQ(b->query("payments", json::object())[0]["booking_id"], "B-3") << "arrival order, not key order";

  // No second charge, even with a card that would now be accepted; the
  // refund of B-2 is of what was charged; a new booking is charged.
  for (const auto& ev : {make_event("BookingCreated", booking_created("B-1", "4111111111111111")),
                         make_event("BookingCreated", booking_created("B-2")),
                         make_event("SeatUnavailable", seat_unavailable("B-2", "PAY-B-2")),
                         make_event("SeatUnavailable", seat_unavailable("B-1", "PAY-B-1")),
                         make_event("BookingCreated", booking_created("B-5"))})
    test::expect_same_effect(a.svc(), *b, ev);
  const auto rows = b->query("payments", json::object());
  EXPECT_EQ(rows, a.svc().query("payments", json::object()));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[1], (json{{"booking_id", "B-1"},
                           {"payment_id", nullptr},
                           {"amount", 249.90},
                           {"state", "DECLINED"},
                           {"reason", "card declined"}}));
  EXPECT_EQ(rows[2]["state"], "REFUNDED");
  EXPECT_EQ(rows[2]["amount"], 99.5);
  EXPECT_EQ(rows[4]["booking_id"], "B-5");
}

TEST(payment, failed_handlers_record_no_change) {
  auto a = payment_with_store();
  ASSERT_EQ(a.deliver("BookingCreated", booking_created("B-1")).status, outcome::ok);
  auto bad = booking_created("B-2");
  bad.erase("amount");
  for (const auto& ev : {make_event("BookingCreated", bad),
                         make_event("SeatUnavailable", seat_unavailable("B-1", "PAY-B-9")),
                         make_event("SeatUnavailable", seat_unavailable("B-404", "PAY-B-404")),
                         make_event("SeatAssigned", json::object())}) {
    EXPECT_EQ(a.deliver(ev).status, outcome::permanent) << ev.detail.dump();
    EXPECT_TRUE(a.last_changes().empty()) << ev.detail.dump();
  }
  EXPECT_EQ(a.store().rows().at("payments").at("B-1")["state"], "CHARGED");
}

struct bad_payment_row_case {
  const char* name;
  json row;
  const char* error;
};

json payment_row() {
  return {{"booking_id", "B-1"}, {"payment_id", "PAY-B-1"}, {"amount", 10}, {"state", "CHARGED"},
          {"reason", nullptr},   {"seq", 1}};
}

json changed(json row, const char* field, json value) {
  row[field] = std::move(value);
  return row;
}

class payment_bad_row : public ::testing::TestWithParam<bad_payment_row_case> {};

TEST_P(payment_bad_row, stops_the_restore_naming_the_row) {
  payment_service s(rules());
  try {
    s.restore("payments", "B-1", GetParam().row);
    FAIL() << "restored a bad row";
  } catch (const restore_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("restore payment: payments/B-1: ", 0), 0u) << what;
    EXPECT_NE(what.find(GetParam().error), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, payment_bad_row,
    ::testing::Values(
        bad_payment_row_case{"unknown_state", changed(payment_row(), "state", "PAID"), "state: must be CHARGED"},
        bad_payment_row_case{"charged_without_id", changed(payment_row(), "payment_id", nullptr),
                             "payment_id: must be null exactly when the state is DECLINED"},
        bad_payment_row_case{"declined_with_id", changed(payment_row(), "state", "DECLINED"),
                             "payment_id: must be null exactly when the state is DECLINED"},
        bad_payment_row_case{"other_booking", changed(payment_row(), "booking_id", "B-2"),
                             "booking_id: differs from the key"},
        bad_payment_row_case{"no_amount", changed(payment_row(), "amount", nullptr), "amount: missing"}),
    [](const auto& info) { return std::string(info.param.name); });

} // namespace
} // namespace troupe::flight
