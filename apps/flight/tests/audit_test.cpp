#include "apps/flight/services/audit.hpp"

#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "apps/flight/services/notification.hpp"
#include "apps/flight/tests/helpers.hpp"

namespace troupe::flight {
namespace {

using test::operator<<;

namespace fs = std::filesystem;
using test::json;

// What a cluster left behind: the services' rows and the Maildir's messages.
struct world {
  stored_rows rows;
  std::vector<mail_file> mails;

  // The first row of `key`; throws when there is none (a broken test case).
  json& row(const std::string& service, const std::string& table, const std::string& key) {
    for (auto& [k, v] : rows.rows[service][table])
      if (k == key)
        return v;
    throw std::runtime_error("no row " + service + "/" + table + "/" + key);
  }
  void erase(const std::string& service, const std::string& table, const std::string& key) {
    auto& t = rows.rows[service][table];
    t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& kv) { return kv.first == key; }), t.end());
  }
  mail_file& mail(const std::string& booking_id) {
    for (auto& m : mails)
      if (m.booking_id == booking_id)
        return m;
    throw std::runtime_error("no mail for " + booking_id);
  }

  void add_booking(const std::string& id, const std::string& state, json reason = nullptr, json seat = nullptr,
                   json ticket = nullptr) {
    rows.add("booking", "bookings", id,
             {{"id", id},
              {"state", state},
              {"reason", reason},
              {"customer", "Ada"},
              {"email", "ada@example.com"},
              {"flight", "TR100"},
              {"seat_preference", "any"},
              {"amount", 100},
              {"seat", seat},
              {"ticket", ticket},
              {"created_ms", 1},
              {"updated_ms", 2},
              {"seq", 1}});
  }
  void add_payment(const std::string& id, const std::string& state, json payment_id, json reason = nullptr) {
    rows.add("payment", "payments", id,
             {{"booking_id", id}, {"payment_id", payment_id}, {"amount", 100}, {"state", state}, {"reason", reason}, {"seq", 1}});
  }
  void add_seat(const std::string& id, json seat, json reason = nullptr) {
    rows.add("seat", "seats", id, {{"flight", "TR100"}, {"seat", seat}, {"reason", reason}});
  }
  void add_ticket(const std::string& id, const std::string& ticket, const std::string& seat) {
    rows.add("ticket", "tickets", id, {{"ticket", ticket}, {"seat", seat}, {"flight", "TR100"}});
  }
  void add_email(const std::string& id, const std::string& kind) {
    rows.add("notification", "emails", id, {{"kind", kind}, {"file", "/m/" + id}, {"seq", 1}});
    mails.push_back({id, kind, "/m/" + id, mail_key(id)});
  }

  // A booking that went all the way, consistent in every service.
  void add_confirmed(const std::string& id, const std::string& seat, const std::string& ticket) {
    add_booking(id, "CONFIRMED", nullptr, seat, ticket);
    add_payment(id, "CHARGED", "PAY-" + id);
    add_seat(id, seat);
    add_ticket(id, ticket, seat);
    add_email(id, "confirmed");
  }
};

// Three bookings, each ended right: confirmed; declined; refunded when the
// flight was full.
world baseline() {
  world w;
  w.add_confirmed("B-1", "1A", "TRP-0000000001");
  w.rows.add("ticket", "meta", "counter", {{"last_number", 1}});
  w.add_booking("B-2", "CANCELLED", "card declined");
  w.add_payment("B-2", "DECLINED", nullptr, "card declined");
  w.add_email("B-2", "cancelled");
  w.add_booking("B-3", "CANCELLED", "no seat left on TR100");
  w.add_payment("B-3", "REFUNDED", "PAY-B-3", "no seat left on TR100");
  w.add_seat("B-3", nullptr, "no seat left on TR100");
  w.add_email("B-3", "cancelled");
  return w;
}

TEST(audit, the_baseline_is_clean_with_its_counts) {
  for (bool quiescent : {false, true}) {
    const auto w = baseline();
    const auto r = audit(w.rows, w.mails, quiescent);
    EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
    EXPECT_EQ(r.bookings_by_state,
              (std::map<std::string, std::size_t>{
                  {"PENDING", 0}, {"CONFIRMED", 1}, {"CANCELLED", 2}, {"DEAD_LETTERED", 0}}));
    EXPECT_EQ(r.cancelled_by_reason,
              (std::map<std::string, std::size_t>{{"card declined", 1}, {"no seat left on TR100", 1}}));
    EXPECT_EQ(r.payments_by_state,
              (std::map<std::string, std::size_t>{{"CHARGED", 1}, {"DECLINED", 1}, {"REFUNDED", 1}}));
    EXPECT_EQ(r.seats_assigned, 1u);
    EXPECT_EQ(r.seats_refused, 1u);
    EXPECT_EQ(r.tickets, 1u);
    EXPECT_EQ(r.emails, 3u);
    EXPECT_TRUE(r.in_flight.empty());
  }
}

TEST(audit, nothing_stored_is_clean) {
  const auto r = audit(stored_rows{}, {}, true);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.bookings_by_state.at("PENDING"), 0u);
}

TEST(audit, in_flight_lists_pending_bookings) {
  auto w = baseline();
  w.add_booking("B-5", "PENDING");
  w.add_booking("B-4", "PENDING");
  w.add_payment("B-4", "CHARGED", "PAY-B-4");
  w.add_seat("B-4", "1B");
  const auto r = audit(w.rows, w.mails, false);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
  EXPECT_EQ(r.in_flight, (std::vector<std::string>{"B-4", "B-5"}));
  EXPECT_EQ(r.bookings_by_state.at("PENDING"), 2u);
}

TEST(audit, a_pending_booking_whose_event_is_in_a_dlq_is_dead_lettered_not_a_violation) {
  auto w = baseline();
  w.add_booking("B-7", "PENDING");
  w.add_booking("B-8", "PENDING");
  const auto r = audit(w.rows, w.mails, true, {"B-7"});
  EXPECT_EQ(r.bookings_by_state.at("DEAD_LETTERED"), 1u);
  EXPECT_EQ(r.bookings_by_state.at("PENDING"), 1u);
  EXPECT_EQ(r.in_flight, (std::vector<std::string>{"B-8"}));
  ASSERT_EQ(r.violations.size(), 1u) << r.to_json().dump(2);
  EXPECT_NE(r.violations[0].find("B-8"), std::string::npos);
  // A booking that already ended is what it is, whatever a DLQ holds.
  EXPECT_EQ(audit(w.rows, w.mails, true, {"B-1"}).bookings_by_state.at("DEAD_LETTERED"), 0u);
}

TEST(audit, report_as_json) {
  auto w = baseline();
  w.add_booking("B-4", "PENDING");
  const auto j = audit(w.rows, w.mails, true).to_json();
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["bookings"], (json{{"CANCELLED", 2}, {"CONFIRMED", 1}, {"DEAD_LETTERED", 0}, {"PENDING", 1}}));
  EXPECT_EQ(j["cancelled_by_reason"]["card declined"], 1);
  EXPECT_EQ(j["payments"]["REFUNDED"], 1);
  EXPECT_EQ(j["seats_assigned"], 1);
  EXPECT_EQ(j["seats_refused"], 1);
  EXPECT_EQ(j["tickets"], 1);
  EXPECT_EQ(j["emails"], 3);
  EXPECT_EQ(j["in_flight"], (json{"B-4"}));
  EXPECT_EQ(j["violations"], (json{"booking B-4 is still PENDING although nothing is in flight"}));
}

struct violation_case {
  const char* name;
  std::function<void(world&)> change;
  bool quiescent;
  std::vector<std::string> violations;  // exactly these, in this order
};

class audit_violation : public ::testing::TestWithParam<violation_case> {};

TEST_P(audit_violation, is_reported_naming_the_booking) {
  const auto& c = GetParam();
  auto w = baseline();
  ASSERT_TRUE(audit(w.rows, w.mails, c.quiescent).ok()) << "the baseline must be clean";
  c.change(w);
  const auto r = audit(w.rows, w.mails, c.quiescent);
  EXPECT_EQ(r.violations, c.violations) << r.to_json().dump(2);
}

const std::string seat_1a = "seat 1A on TR100";

INSTANTIATE_TEST_SUITE_P(
    cases, audit_violation,
    ::testing::Values(
        // One outcome per booking.
        violation_case{"pending_when_quiescent", [](world& w) { w.add_booking("B-4", "PENDING"); }, true,
                       {"booking B-4 is still PENDING although nothing is in flight"}},
        violation_case{"pending_in_flight_is_fine", [](world& w) { w.add_booking("B-4", "PENDING"); }, false, {}},
        violation_case{"unknown_state", [](world& w) { w.add_booking("B-4", "LOST"); }, false,
                       {"booking B-4 has no valid state (\"LOST\")"}},
        violation_case{"booking_stored_twice",
                       [](world& w) { w.add_booking("B-2", "CANCELLED", "card declined"); }, false,
                       {"booking B-2 is stored 2 times"}},

        // Charged at most once; refunded exactly when it should be.
        violation_case{"charged_twice", [](world& w) { w.add_payment("B-1", "CHARGED", "PAY-B-1-again"); }, false,
                       {"booking B-1 was charged 2 times (PAY-B-1, PAY-B-1-again)"}},
        violation_case{"two_payment_decisions",
                       [](world& w) { w.add_payment("B-2", "DECLINED", nullptr, "card declined"); }, false,
                       {"booking B-2 has 2 payment rows"}},
        violation_case{"payment_state_unknown", [](world& w) { w.row("payment", "payments", "B-2")["state"] = "LOST"; },
                       false, {"the payment of booking B-2 has no valid state (\"LOST\")"}},
        violation_case{"refund_without_charge",
                       [](world& w) { w.row("payment", "payments", "B-3")["payment_id"] = nullptr; }, false,
                       {"booking B-3 was refunded without having been charged"}},
        violation_case{"confirmed_but_refunded",
                       [](world& w) { w.row("payment", "payments", "B-1")["state"] = "REFUNDED"; }, false,
                       {"booking B-1 is CONFIRMED but its payment PAY-B-1 was refunded",
                        "booking B-1 was refunded although it holds " + seat_1a}},
        violation_case{"confirmed_but_declined",
                       [](world& w) {
                         w.row("payment", "payments", "B-1")["state"] = "DECLINED";
                         w.row("payment", "payments", "B-1")["payment_id"] = nullptr;
                       },
                       false, {"booking B-1 is CONFIRMED but its payment was declined"}},
        violation_case{"confirmed_never_charged", [](world& w) { w.erase("payment", "payments", "B-1"); }, true,
                       {"booking B-1 is CONFIRMED but was never charged"}},
        violation_case{"confirmed_not_charged_yet_in_flight", [](world& w) { w.erase("payment", "payments", "B-1"); },
                       false, {}},
        violation_case{"cancelled_charge_not_refunded",
                       [](world& w) { w.row("payment", "payments", "B-3")["state"] = "CHARGED"; }, true,
                       {"booking B-3 is CANCELLED but its charge PAY-B-3 was not refunded"}},
        violation_case{"cancelled_refund_in_flight",
                       [](world& w) { w.row("payment", "payments", "B-3")["state"] = "CHARGED"; }, false, {}},
        violation_case{"one_payment_for_two_bookings",
                       [](world& w) { w.row("payment", "payments", "B-3")["payment_id"] = "PAY-B-1"; }, false,
                       {"payment PAY-B-1 is recorded for 2 bookings (B-1, B-3)"}},

        // Seats: one per confirmed booking, none given twice.
        violation_case{"refunded_while_seated",
                       [](world& w) {
                         w.row("seat", "seats", "B-3")["seat"] = "1B";
                         w.row("seat", "seats", "B-3")["reason"] = nullptr;
                       },
                       false,
                       {"booking B-3 was refunded although it holds seat 1B on TR100",
                        "booking B-3 is CANCELLED but holds seat 1B on TR100"}},
        violation_case{"seat_given_twice", [](world& w) { w.add_seat("B-2", "1A"); }, false,
                       {"booking B-2 is CANCELLED but holds " + seat_1a,
                        "seat 1A on TR100 is given to 2 bookings (B-1, B-2)"}},
        violation_case{"booking_seated_twice", [](world& w) { w.add_seat("B-1", "1B"); }, false,
                       {"booking B-1 was given 2 seats (1A on TR100, 1B on TR100)"}},
        violation_case{"two_seat_decisions", [](world& w) { w.add_seat("B-3", nullptr, "no seat left on TR100"); },
                       false,
                       {"booking B-3 has 2 seat decisions (refused (no seat left on TR100), refused (no seat left on "
                        "TR100))"}},
        violation_case{"confirmed_without_seat", [](world& w) { w.erase("seat", "seats", "B-1"); }, true,
                       {"booking B-1 is CONFIRMED but has no seat"}},
        violation_case{"confirmed_with_another_seat",
                       [](world& w) { w.row("booking", "bookings", "B-1")["seat"] = "1B"; }, false,
                       {"booking B-1 is CONFIRMED with seat 1B but Seat gave it 1A"}},

        // Tickets: one per confirmed booking, no number twice.
        violation_case{"confirmed_without_ticket", [](world& w) { w.erase("ticket", "tickets", "B-1"); }, true,
                       {"booking B-1 is CONFIRMED but has no ticket"}},
        violation_case{"confirmed_with_another_ticket",
                       [](world& w) { w.row("booking", "bookings", "B-1")["ticket"] = "TRP-0000000002"; }, false,
                       {"booking B-1 is CONFIRMED with ticket TRP-0000000002 but Ticket issued TRP-0000000001"}},
        violation_case{"cancelled_with_ticket",
                       [](world& w) {
                         w.add_ticket("B-2", "TRP-0000000002", "1B");
                         w.row("ticket", "meta", "counter")["last_number"] = 2;
                       },
                       false, {"booking B-2 is CANCELLED but has ticket TRP-0000000002"}},
        violation_case{"ticket_for_another_seat",
                       [](world& w) { w.row("ticket", "tickets", "B-1")["seat"] = "1B"; }, false,
                       {"ticket TRP-0000000001 of booking B-1 is for seat 1B on TR100 but Seat gave it 1A on TR100"}},
        violation_case{"two_tickets",
                       [](world& w) {
                         w.add_ticket("B-1", "TRP-0000000002", "1A");
                         w.row("ticket", "meta", "counter")["last_number"] = 2;
                       },
                       false, {"booking B-1 has 2 tickets (TRP-0000000001, TRP-0000000002)"}},
        violation_case{"ticket_number_reused", [](world& w) { w.add_confirmed("B-4", "1B", "TRP-0000000001"); },
                       false, {"ticket TRP-0000000001 is issued to 2 bookings (B-1, B-4)"}},
        violation_case{"counter_behind_the_tickets", [](world& w) { w.add_confirmed("B-4", "1B", "TRP-0000000002"); },
                       false,
                       {"Ticket's counter (1) is behind ticket TRP-0000000002 of booking B-4, so its number could be "
                        "issued again"}},

        // Emails: one per final booking, of the right kind, none otherwise.
        violation_case{"two_emails", [](world& w) { w.mails.push_back({"B-2", "cancelled", "/m/B-2-again", "BB-2"}); },
                       false, {"booking B-2 got 2 emails (/m/B-2, /m/B-2-again)"}},
        violation_case{"no_email_when_quiescent",
                       [](world& w) {
                         w.mails.erase(w.mails.begin() + 1);
                         w.erase("notification", "emails", "B-2");
                       },
                       true, {"booking B-2 is CANCELLED but no email was sent"}},
        violation_case{"no_email_yet_in_flight",
                       [](world& w) {
                         w.mails.erase(w.mails.begin() + 1);
                         w.erase("notification", "emails", "B-2");
                       },
                       false, {}},
        violation_case{"email_of_the_wrong_kind", [](world& w) { w.mail("B-1").kind = "cancelled"; }, false,
                       {"booking B-1 is CONFIRMED but its email /m/B-1 says cancelled"}},
        violation_case{"email_without_outcome", [](world& w) { w.mail("B-1").kind = ""; }, false,
                       {"email /m/B-1 of booking B-1 does not say whether it confirms or cancels"}},
        violation_case{"recorded_kind_wrong",
                       [](world& w) { w.row("notification", "emails", "B-2")["kind"] = "confirmed"; }, false,
                       {"booking B-2 is CANCELLED but Notification recorded a confirmed email"}},
        violation_case{"recorded_twice",
                       [](world& w) {
                         w.rows.add("notification", "emails", "B-2", {{"kind", "cancelled"}, {"file", "/x"}, {"seq", 9}});
                       },
                       false, {"Notification recorded 2 emails for booking B-2"}},
        violation_case{"email_not_recorded", [](world& w) { w.erase("notification", "emails", "B-3"); }, true,
                       {"Notification has no record of the email of booking B-3 (/m/B-3)"}},
        violation_case{"recorded_but_not_in_the_maildir", [](world& w) { w.mails.pop_back(); }, true,
                       {"booking B-3 is CANCELLED but no email was sent",
                        "Notification recorded an email for booking B-3 but the Maildir has none"}},
        violation_case{"email_for_a_pending_booking",
                       [](world& w) {
                         w.add_booking("B-4", "PENDING");
                         w.add_email("B-4", "confirmed");
                       },
                       true,
                       {"booking B-4 is still PENDING although nothing is in flight",
                        "booking B-4 is not final (PENDING) but got an email (/m/B-4)",
                        "booking B-4 is not final (PENDING) but Notification recorded an email"}},
        violation_case{"email_before_the_booking_confirms_in_flight",
                       [](world& w) {
                         w.add_booking("B-4", "PENDING");
                         w.add_email("B-4", "confirmed");
                       },
                       false, {}},
        violation_case{"message_without_a_booking", [](world& w) { w.mails.push_back({"", "", "/m/stray", ""}); }, false,
                       {"email /m/stray names no booking"}},

        // Rows of bookings that do not exist.
        violation_case{"payment_of_an_unknown_booking", [](world& w) { w.add_payment("B-9", "CHARGED", "PAY-B-9"); },
                       true, {"Payment has a row for booking B-9, which does not exist"}},
        violation_case{"seat_of_an_unknown_booking", [](world& w) { w.add_seat("B-9", "1B"); }, true,
                       {"Seat has a row for booking B-9, which does not exist"}},
        violation_case{"ticket_of_an_unknown_booking",
                       [](world& w) {
                         w.add_ticket("B-9", "TRP-0000000002", "1B");
                         w.row("ticket", "meta", "counter")["last_number"] = 2;
                       },
                       true, {"Ticket has a row for booking B-9, which does not exist"}},
        violation_case{"email_of_an_unknown_booking", [](world& w) { w.add_email("B-9", "cancelled"); }, true,
                       {"Notification has a row for booking B-9, which does not exist",
                        "email /m/B-9 is for booking B-9, which does not exist"}},
        violation_case{"unknown_bookings_in_flight",
                       [](world& w) {
                         w.add_payment("B-9", "CHARGED", "PAY-B-9");
                         w.add_email("B-9", "cancelled");
                       },
                       false, {}}),
    [](const auto& info) { return std::string(info.param.name); });

// --- reading the Maildir ---------------------------------------------------

TEST(audit, read_mail_files_takes_the_booking_from_the_name_else_the_header) {
  test::temp_dir dir;
  const auto root = dir.path();
  for (const char* sub : {"new", "cur", "tmp"})
    fs::create_directories(root / sub);
  auto write = [](const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; };
  const auto ours = mail_file_name(1'700'000'000'000, "a.b");  // B-key: "a.b" read back from the name
  write(root / "new" / ours, "X-Troupe-Booking: ignored\r\nX-Troupe-Outcome: confirmed\r\n\r\nbody\r\n");
  const std::string long_id(200, 'x');
  const auto hashed = mail_file_name(1'700'000'000'000, long_id);  // H-key: from the header
  write(root / "cur" / (hashed + ":2,S"),
        "Subject: x\r\nX-Troupe-Booking: " + long_id + "\r\nX-Troupe-Outcome:\r\n cancelled\r\n\r\nbody\r\n");
  write(root / "new" / "1700000000.4242_1.host", "X-Troupe-Booking: B-old\n\nbody\n");  // before this change
  write(root / "new" / "1700000000.4242_2.host", "Subject: no booking\r\n\r\nX-Troupe-Booking: B-body\r\n");
  write(root / "tmp" / "1700000000.BB-1.host", "X-Troupe-Booking: B-1\r\n\r\n");  // not delivered

  auto files = read_mail_files(root);
  ASSERT_TRUE(files) << files.err().message;
  std::map<std::string, std::vector<std::string>> got;  // file name -> (booking, kind, key)
  for (const auto& m : *files)
    got[fs::path(m.path).filename().string()] = {m.booking_id, m.kind, m.key};
  EXPECT_EQ(got, (std::map<std::string, std::vector<std::string>>{
                     {ours, {"a.b", "confirmed", "Ba%2Eb"}},
                     {hashed + ":2,S", {long_id, "cancelled", mail_key(long_id)}},
                     {"1700000000.4242_1.host", {"B-old", "", ""}},
                     {"1700000000.4242_2.host", {"", "", ""}},
                 }));
}

TEST(audit, a_message_named_by_a_hashed_key_belongs_to_its_booking) {
  // Ids this long keep only 200 bytes in the X-Troupe-Booking header.
  const std::string id = "B-" + std::string(400, 'x');
  auto w = baseline();
  w.add_booking(id, "CANCELLED", "card declined");
  w.add_payment(id, "DECLINED", nullptr, "card declined");
  w.add_email(id, "cancelled");
  w.mails.back().booking_id = id.substr(0, 200);
  ASSERT_EQ(w.mails.back().key.front(), 'H');
  const auto r = audit(w.rows, w.mails, true);
  EXPECT_TRUE(r.ok()) << r.to_json().dump(2);
}

TEST(audit, read_mail_page_pages_through_what_read_mail_files_finds) {
  test::temp_dir dir;
  const auto root = dir.path();
  for (const char* sub : {"new", "cur", "tmp"})
    fs::create_directories(root / sub);
  for (int i = 0; i < 9; ++i)
    std::ofstream(root / (i % 3 ? "new" : "cur") / mail_file_name(1'700'000'000'000 + i, "B-" + std::to_string(i)))
        << "X-Troupe-Outcome: confirmed\r\n\r\nbody\r\n";
  auto all = read_mail_files(root);
  ASSERT_TRUE(all) << all.err().message;
  ASSERT_EQ(all->size(), 9u);
  for (std::size_t limit : {1u, 2u, 4u, 9u, 100u}) {
    std::vector<mail_file> got;
    std::string after;
    std::size_t pages = 0;
    for (;;) {
      auto page = read_mail_page(root, after, limit);
      ASSERT_TRUE(page) << page.err().message;
      ++pages;
      ASSERT_LE(page->mails.size(), limit);
      got.insert(got.end(), page->mails.begin(), page->mails.end());
      if (page->next.empty())
        break;
      EXPECT_EQ(page->next, page->mails.back().path);
      after = page->next;
      ASSERT_LT(pages, 20u);
    }
    EXPECT_EQ(pages, (9 + limit - 1) / limit) << limit;
    ASSERT_EQ(got.size(), all->size()) << limit;
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].path, (*all)[i].path) << limit;
      EXPECT_EQ(got[i].booking_id, (*all)[i].booking_id) << limit;
      auto back = mail_file_of(to_json(got[i]));
      ASSERT_TRUE(back);
      EXPECT_EQ(back->key, got[i].key);
      EXPECT_EQ(back->kind, "confirmed");
    }
  }
  EXPECT_FALSE(mail_file_of(nlohmann::json{{"booking_id", "B-1"}, {"kind", "confirmed"}, {"key", 1}, {"path", "p"}}));
}

TEST(audit, read_mail_files_of_a_missing_maildir_fails) {
  test::temp_dir dir;
  auto files = read_mail_files(dir.path() / "none");
  ASSERT_FALSE(files);
  EXPECT_EQ(files.err().code, errc::io);
}

} // namespace
} // namespace troupe::flight
