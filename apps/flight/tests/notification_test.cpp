#include "apps/flight/services/notification.hpp"

#include <fstream>
#include <functional>
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "actors/row_reader.hpp"
#include "apps/flight/tests/helpers.hpp"
#include "apps/flight/tests/mail_parser.hpp"

namespace troupe::flight {
namespace {

using test::operator<<;

namespace fs = std::filesystem;
using test::deliver;
using test::json;
using test::make_event;
using test::stored_service;
using test::parse_mail;
using test::parsed_mail;
using test::temp_dir;

json ticket_issued(const std::string& id) {
  return {{"booking_id", id},          {"ticket", "TRP-0000000001"}, {"seat", "12A"}, {"flight", "TR100"},
          {"customer", "Ada Lovelace"}, {"email", "ada@example.com"},  {"amount", 249.9}};
}

json booking_cancelled(const std::string& id, const std::string& reason = "no seat left on TR100") {
  return {{"booking_id", id}, {"customer", "Ada Lovelace"}, {"email", "ada@example.com"}, {"flight", "TR100"},
          {"reason", reason}};
}

// A notification service writing to <tmp>/mail.
struct mailbox {
  temp_dir dir;
  std::unique_ptr<service> svc;

  explicit mailbox(const std::string& settings = "from: bookings@troupe.example\nmaildir: mail") {
    cluster::diagnostics diag("test.yaml");
    service_context ctx{"n1", dir.path() / "data", dir.path()};
    svc = test::build("notification", settings, diag, ctx);
    if (!svc)
      throw std::runtime_error(diag.to_string());
  }

  fs::path root() const { return dir.path() / "mail"; }
  std::vector<fs::path> delivered() const { return test::files_in(root() / "new"); }

  parsed_mail only_mail() const {
    const auto files = delivered();
    if (files.size() != 1)
      throw std::runtime_error("expected one message, found " + std::to_string(files.size()));
    std::string why;
    auto m = parse_mail(test::read_file(files[0]), why);
    if (!m)
      throw std::runtime_error("not RFC 5322: " + why);
    return *m;
  }
};

TEST(notification, construction_touches_no_file_and_start_makes_the_maildir) {
  mailbox mb;
  EXPECT_FALSE(fs::exists(mb.root()));
  mb.svc->start();
  for (const char* sub : {"tmp", "new", "cur"})
    EXPECT_TRUE(fs::is_directory(mb.root() / sub)) << sub;
}

TEST(notification, confirmation_is_an_rfc5322_message_in_new) {
  mailbox mb;
  mb.svc->start();
  const auto h = deliver(*mb.svc, "TicketIssued", ticket_issued("B-1"), {}, "B-1");
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  EXPECT_TRUE(h.emitted.empty());
  EXPECT_TRUE(test::files_in(mb.root() / "tmp").empty()) << "tmp/ must be empty after delivery";

  const auto files = mb.delivered();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string(), "1700000000.BB-1." + maildir::host_name())
      << "named after the event's time and the booking";

  const auto m = mb.only_mail();
  EXPECT_EQ(m.get("From"), "bookings@troupe.example");
  EXPECT_EQ(m.get("To"), "\"Ada Lovelace\" <ada@example.com>");
  EXPECT_EQ(m.get("Subject"), "Booking B-1 confirmed: flight TR100, seat 12A");
  static const std::regex date_re(
      R"(^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9] \+0000$)");
  EXPECT_TRUE(std::regex_match(m.get("Date"), date_re)) << m.get("Date");
  static const std::regex id_re(R"(^<[A-Za-z0-9._-]+@troupe\.example>$)");
  EXPECT_TRUE(std::regex_match(m.get("Message-ID"), id_re)) << m.get("Message-ID");
  EXPECT_EQ(m.get("MIME-Version"), "1.0");
  EXPECT_EQ(m.get("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(m.get("X-Troupe-Booking"), "B-1");
  EXPECT_EQ(m.get("X-Troupe-Outcome"), "confirmed");
  EXPECT_EQ(m.get("Message-ID"), "<BB-1.troupe@troupe.example>") << "one Message-ID per booking";
  for (const char* h : {"From", "To", "Subject", "Date", "Message-ID", "X-Troupe-Booking", "X-Troupe-Outcome"})
    EXPECT_EQ(m.count(h), 1u) << h;

  EXPECT_NE(m.body.find("Flight: TR100\r\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("Seat:   12A\r\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("Ticket: TRP-0000000001\r\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("Amount: 249.90\r\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("Hello Ada Lovelace,"), std::string::npos) << m.body;

  const auto rows = mb.svc->query("emails", json::object());
  EXPECT_EQ(rows, (json{{{"booking_id", "B-1"}, {"kind", "confirmed"}, {"file", files[0].string()}}}));
}

TEST(notification, mails_answers_the_maildir_a_page_at_a_time) {
  mailbox mb;
  EXPECT_EQ(mb.svc->query("mails", json::object()),
            (json{{"maildir", mb.root().string()}, {"mails", json::array()}, {"next", nullptr}}))
      << "no Maildir yet: no mails";
  mb.svc->start();
  for (const char* id : {"B-1", "B-2", "B-3"})
    ASSERT_EQ(deliver(*mb.svc, "TicketIssued", ticket_issued(id), {}, id).status, outcome::ok);
  auto first = mb.svc->query("mails", json{{"limit", 2}});
  ASSERT_EQ(first["mails"].size(), 2u) << first.dump();
  EXPECT_EQ(first["mails"][0]["booking_id"], "B-1");
  EXPECT_EQ(first["mails"][0]["kind"], "confirmed");
  EXPECT_EQ(first["mails"][0]["key"], "BB-1");
  EXPECT_EQ(first["next"], first["mails"][1]["path"]);
  auto last = mb.svc->query("mails", json{{"after", first["next"]}, {"limit", 2}});
  ASSERT_EQ(last["mails"].size(), 1u) << last.dump();
  EXPECT_EQ(last["mails"][0]["booking_id"], "B-3");
  EXPECT_TRUE(last["next"].is_null());
  for (const auto& bad : {json{{"limit", 0}}, json{{"limit", 10001}}, json{{"limit", "2"}}, json{{"after", 1}}})
    EXPECT_TRUE(mb.svc->query("mails", bad).contains("error")) << bad.dump();
}

TEST(notification, cancellation_gives_the_reason) {
  mailbox mb;
  mb.svc->start();
  const auto h = deliver(*mb.svc, "BookingCancelled", booking_cancelled("B-2", "no seat left on TR100"));
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  const auto m = mb.only_mail();
  EXPECT_EQ(m.get("Subject"), "Booking B-2 cancelled: no seat left on TR100");
  EXPECT_EQ(m.get("X-Troupe-Booking"), "B-2");
  EXPECT_EQ(m.get("X-Troupe-Outcome"), "cancelled");
  EXPECT_NE(m.body.find("Reason: no seat left on TR100\r\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("flight TR100"), std::string::npos) << m.body;
  EXPECT_EQ(mb.svc->query("emails", json::object())[0]["kind"], "cancelled");
}

TEST(notification, a_booking_gets_at_most_one_email) {
  mailbox mb;
  mb.svc->start();
  ASSERT_EQ(deliver(*mb.svc, "TicketIssued", ticket_issued("B-1")).status, outcome::ok);
  const auto again = deliver(*mb.svc, "TicketIssued", ticket_issued("B-1"));
  EXPECT_EQ(again.status, outcome::ok);
  const auto other_kind = deliver(*mb.svc, "BookingCancelled", booking_cancelled("B-1"));
  EXPECT_EQ(other_kind.status, outcome::ok);
  EXPECT_EQ(mb.delivered().size(), 1u);
  EXPECT_EQ(mb.svc->query("emails", json::object()).size(), 1u);

  ASSERT_EQ(deliver(*mb.svc, "BookingCancelled", booking_cancelled("B-2")).status, outcome::ok);
  ASSERT_EQ(deliver(*mb.svc, "TicketIssued", ticket_issued("B-3")).status, outcome::ok);
  const auto files = mb.delivered();
  EXPECT_EQ(files.size(), 3u);
  std::set<std::string> ids;
  for (const auto& f : files) {
    std::string why;
    const auto m = parse_mail(test::read_file(f), why);
    ASSERT_TRUE(m) << why;
    ids.insert(m->get("Message-ID"));
  }
  EXPECT_EQ(ids.size(), 3u) << "Message-IDs must be unique";
}

struct injection_case {
  const char* name;
  const char* type;
  const char* field;
  const char* value;
  const char* header;  // where the stripped value shows
  const char* expected;
};

class notification_injection : public ::testing::TestWithParam<injection_case> {};

TEST_P(notification_injection, line_breaks_are_stripped_from_header_values) {
  const auto& c = GetParam();
  mailbox mb;
  mb.svc->start();
  const std::string type = c.type;
  auto d = type == "TicketIssued" ? ticket_issued("B-1") : booking_cancelled("B-1");
  d[c.field] = c.value;
  const auto h = deliver(*mb.svc, type, d);
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  const auto m = mb.only_mail();
  EXPECT_EQ(m.count("Bcc"), 0u);
  EXPECT_EQ(m.headers.size(), 10u) << "no header may be added by event data";
  EXPECT_EQ(m.get(c.header), c.expected);
  EXPECT_EQ(m.body.find("\r\nBcc:"), std::string::npos) << m.body;
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_injection,
    ::testing::Values(
        injection_case{"customer_name", "TicketIssued", "customer", "Ada\r\nBcc: eve@evil.example", "To",
                       "\"AdaBcc: eve@evil.example\" <ada@example.com>"},
        injection_case{"bare_lf_in_name", "TicketIssued", "customer", "Ada\nBcc: eve@evil.example", "To",
                       "\"AdaBcc: eve@evil.example\" <ada@example.com>"},
        injection_case{"quote_in_name", "TicketIssued", "customer", "Ada \"The Countess\" L\\", "To",
                       "\"Ada \\\"The Countess\\\" L\\\\\" <ada@example.com>"},
        injection_case{"seat", "TicketIssued", "seat", "12A\r\nBcc: eve@evil.example", "Subject",
                       "Booking B-1 confirmed: flight TR100, seat 12ABcc: eve@evil.example"},
        injection_case{"reason", "BookingCancelled", "reason", "card declined\r\n\r\nBcc: eve@evil.example",
                       "Subject", "Booking B-1 cancelled: card declinedBcc: eve@evil.example"},
        injection_case{"booking_id", "BookingCancelled", "booking_id", "B-1\rBcc: eve@evil.example",
                       "X-Troupe-Booking", "B-1Bcc: eve@evil.example"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(notification, address_with_line_break_is_refused) {
  mailbox mb;
  mb.svc->start();
  auto d = ticket_issued("B-1");
  d["email"] = "ada@example.com\r\nBcc: eve@evil.example";
  const auto h = deliver(*mb.svc, "TicketIssued", d);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error.rfind("detail.email: must be an email address", 0), 0u) << h.error;
  EXPECT_TRUE(mb.delivered().empty());
}

TEST(notification, non_ascii_header_text_uses_encoded_words) {
  mailbox mb;
  mb.svc->start();
  auto d = booking_cancelled("B-1", "vol annulé — désolé");
  d["customer"] = "José Müller";
  ASSERT_EQ(deliver(*mb.svc, "BookingCancelled", d).status, outcome::ok);
  const auto m = mb.only_mail();  // the parser refuses non-ASCII header bytes
  const auto to = m.get("To");
  EXPECT_EQ(to.rfind("=?utf-8?B?", 0), 0u) << to;
  EXPECT_EQ(test::decode_words(to.substr(0, to.find(" <"))), "José Müller");
  EXPECT_EQ(to.substr(to.find(" <")), " <ada@example.com>");
  EXPECT_EQ(test::decode_words(m.get("Subject")), "Booking B-1 cancelled: vol annulé — désolé");
  EXPECT_EQ(m.get("Content-Transfer-Encoding"), "8bit");
  EXPECT_NE(m.body.find("Reason: vol annulé — désolé\r\n"), std::string::npos);
}

TEST(notification, long_subject_is_folded_and_unfolds_to_the_original) {
  mailbox mb;
  mb.svc->start();
  std::string reason;
  for (int i = 0; i < 20; ++i)
    reason += "reason" + std::to_string(i) + " ";
  reason += "end";
  ASSERT_EQ(deliver(*mb.svc, "BookingCancelled", booking_cancelled("B-1", reason)).status, outcome::ok);
  const auto m = mb.only_mail();
  EXPECT_EQ(m.get("Subject"), "Booking B-1 cancelled: " + reason);
  for (const auto& line : m.header_lines)
    EXPECT_LE(line.size(), 78u) << line;
}

TEST(notification, io_error_is_transient_with_the_system_reason_and_recovers) {
  temp_dir dir;
  const auto blocker = dir.path() / "blocker";
  cluster::diagnostics diag("test.yaml");
  auto svc = test::build("notification",
                         "from: bookings@troupe.example\nmaildir: " + (blocker / "mail").string(), diag,
                         service_context{"n1", dir.path(), dir.path()});
  ASSERT_TRUE(svc) << diag.to_string();
  // After the settings were checked (a maildir under a file is refused
  // there): the failure comes at run time.
  { std::ofstream(blocker) << "a file where a directory should be"; }
  svc->start();  // must not throw
  state_changes changes;
  const auto h = deliver(*svc, "TicketIssued", ticket_issued("B-1"), {}, {}, 1'700'000'000'000, &changes);
  EXPECT_EQ(h.status, outcome::transient);
  EXPECT_NE(h.error.find("Not a directory"), std::string::npos) << h.error;
  EXPECT_TRUE(changes.empty()) << "a transient failure records nothing";
  EXPECT_TRUE(svc->query("emails", json::object()).empty());

  fs::remove(blocker);
  const auto retry = deliver(*svc, "TicketIssued", ticket_issued("B-1"));
  ASSERT_EQ(retry.status, outcome::ok) << retry.error;
  EXPECT_EQ(test::files_in(blocker / "mail" / "new").size(), 1u);
  EXPECT_EQ(svc->query("emails", json::object()).size(), 1u);
}

TEST(notification, maildir_path_absolute_or_default) {
  temp_dir dir;
  {
    cluster::diagnostics diag("test.yaml");
    auto svc = test::build("notification", "from: a@b.example\nmaildir: " + (dir.path() / "abs").string(), diag,
                           service_context{"n1", dir.path() / "data", "/nonexistent/config"});
    ASSERT_TRUE(svc) << diag.to_string();
    svc->start();
    EXPECT_TRUE(fs::is_directory(dir.path() / "abs" / "new"));
  }
  {
    cluster::diagnostics diag("test.yaml");
    auto svc = test::build("notification", "from: a@b.example", diag,
                           service_context{"n1", dir.path() / "data", "/nonexistent/config"});
    ASSERT_TRUE(svc) << diag.to_string();
    svc->start();
    EXPECT_TRUE(fs::is_directory(dir.path() / "data" / "maildir" / "new"));
  }
}

struct bad_event_case {
  const char* name;
  const char* type;
  const char* field;
  const char* error;
};

class notification_bad_event : public ::testing::TestWithParam<bad_event_case> {};

TEST_P(notification_bad_event, is_permanent_naming_the_field) {
  const auto& c = GetParam();
  mailbox mb;
  mb.svc->start();
  const std::string type = c.type;
  auto d = type == "TicketIssued" ? ticket_issued("B-1") : booking_cancelled("B-1");
  d.erase(c.field);
  const auto h = deliver(*mb.svc, type, d);
  EXPECT_EQ(h.status, outcome::permanent);
  EXPECT_EQ(h.error, c.error);
  EXPECT_TRUE(mb.delivered().empty());
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_bad_event,
    ::testing::Values(bad_event_case{"ticket_without_seat", "TicketIssued", "seat", "detail.seat: missing"},
                      bad_event_case{"ticket_without_ticket", "TicketIssued", "ticket", "detail.ticket: missing"},
                      bad_event_case{"cancel_without_reason", "BookingCancelled", "reason", "detail.reason: missing"},
                      bad_event_case{"cancel_without_email", "BookingCancelled", "email", "detail.email: missing"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(notification, from_with_a_display_name) {
  mailbox mb("from: \"troupe flights <bookings@troupe.example>\"\nmaildir: mail");
  mb.svc->start();
  ASSERT_EQ(deliver(*mb.svc, "TicketIssued", ticket_issued("B-1")).status, outcome::ok);
  const auto m = mb.only_mail();
  EXPECT_EQ(m.get("From"), "\"troupe flights\" <bookings@troupe.example>");
  EXPECT_NE(m.get("Message-ID").find("@troupe.example>"), std::string::npos) << m.get("Message-ID");
}

struct mailbox_case {
  const char* name;
  const char* text;
  bool valid;
  const char* display;
  const char* address;
};

class notification_mailbox : public ::testing::TestWithParam<mailbox_case> {};

TEST_P(notification_mailbox, reads_address_and_name) {
  const auto& c = GetParam();
  const auto got = parse_mailbox(c.text);
  ASSERT_EQ(got.has_value(), c.valid);
  if (got) {
    EXPECT_EQ(got->name, c.display);
    EXPECT_EQ(got->address, c.address);
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_mailbox,
    ::testing::Values(mailbox_case{"bare", "bookings@troupe.example", true, "", "bookings@troupe.example"},
                      mailbox_case{"named", "troupe flights <bookings@troupe.example>", true, "troupe flights",
                                   "bookings@troupe.example"},
                      mailbox_case{"quoted_name", "\"Troupe, Inc.\" <b@t.example>", true, "Troupe, Inc.", "b@t.example"},
                      mailbox_case{"angle_only", "<b@t.example>", true, "", "b@t.example"},
                      mailbox_case{"no_at", "bookings", false, "", ""},
                      mailbox_case{"named_no_at", "Troupe <bookings>", false, "", ""},
                      mailbox_case{"two_addresses", "a@b.example, c@d.example", false, "", ""},
                      mailbox_case{"newline_in_name", "Troupe\r\nBcc: x@y.example <b@t.example>", false, "", ""}),
    [](const auto& info) { return std::string(info.param.name); });

struct date_case {
  const char* name;
  std::int64_t ms;
  const char* date;
};

class notification_date : public ::testing::TestWithParam<date_case> {};

TEST_P(notification_date, is_rfc5322) { EXPECT_EQ(rfc5322_date(GetParam().ms), GetParam().date); }

INSTANTIATE_TEST_SUITE_P(cases, notification_date,
                         ::testing::Values(date_case{"epoch", 0, "Thu, 01 Jan 1970 00:00:00 +0000"},
                                           date_case{"summer", 1719837296999, "Mon, 01 Jul 2024 12:34:56 +0000"},
                                           date_case{"leap_day", 951782400000, "Tue, 29 Feb 2000 00:00:00 +0000"}),
                         [](const auto& info) { return std::string(info.param.name); });

struct safe_case {
  const char* name;
  std::string in;
  std::size_t max;
  std::string out;
};

class notification_header_safe : public ::testing::TestWithParam<safe_case> {};

TEST_P(notification_header_safe, strips_controls_and_cuts_on_characters) {
  EXPECT_EQ(header_safe(GetParam().in, GetParam().max), GetParam().out);
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_header_safe,
    ::testing::Values(safe_case{"plain", "Ada Lovelace", 200, "Ada Lovelace"},
                      safe_case{"crlf", "a\r\nb", 200, "ab"},
                      safe_case{"tab_becomes_space", "a\tb", 200, "a b"},
                      safe_case{"nul_and_del", std::string("a\0b\x7f", 4), 200, "ab"},
                      safe_case{"cut", "abcdef", 3, "abc"},
                      safe_case{"cut_before_a_split_character", "ab\xc3\xa9", 3, "ab"},
                      safe_case{"keeps_whole_character", "ab\xc3\xa9", 4, "ab\xc3\xa9"}),
    [](const auto& info) { return std::string(info.param.name); });

// --- Maildir names per booking --------------------------------------------

struct key_case {
  const char* name;
  std::string booking_id;
  std::string key;
};

class notification_mail_key : public ::testing::TestWithParam<key_case> {};

TEST_P(notification_mail_key, encodes_the_booking_and_reads_back) {
  const auto& c = GetParam();
  const auto key = mail_key(c.booking_id);
  EXPECT_EQ(key, c.key);
  EXPECT_LE(key.size(), 101u);
  EXPECT_EQ(key.find_first_of("./:,"), std::string::npos) << key;
  const auto back = booking_of_mail_key(key);
  if (key.front() == 'B')
    EXPECT_EQ(back.value_or("(none)"), c.booking_id);
  else
    EXPECT_FALSE(back.has_value());
  const auto file = mail_file_name(1'700'000'000'999, c.booking_id);
  EXPECT_EQ(file, "1700000000." + key + "." + maildir::host_name());
  EXPECT_EQ(mail_key_of_file(file).value_or("(none)"), key);
  EXPECT_EQ(mail_key_of_file(file + ":2,S").value_or("(none)"), key) << "after a reader moved it to cur/";
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_mail_key,
    ::testing::Values(
        key_case{"plain", "B-1", "BB-1"},
        key_case{"uuid", "3f2b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "B3f2b8a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"},
        key_case{"dot_slash_colon", "a.b/c:d", "Ba%2Eb%2Fc%3Ad"},
        key_case{"percent_is_escaped_too", "50%", "B50%25"},
        key_case{"line_break", "B-1\r\nBcc", "BB-1%0D%0ABcc"},
        key_case{"utf8", "caf\xc3\xa9", "Bcaf%C3%A9"},
        key_case{"longest_readable", std::string(100, 'x'), "B" + std::string(100, 'x')},
        key_case{"one_byte_too_long", std::string(101, 'x'), "H0be19b45728eb2d7"},
        key_case{"long_after_escaping", std::string(40, '.'), "H2f0105da8fcfb145"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(notification, long_ids_hash_to_different_keys) {
  EXPECT_NE(mail_key(std::string(300, 'x')), mail_key(std::string(300, 'x') + "y"));
  EXPECT_EQ(mail_key(std::string(300, 'x')), mail_key(std::string(300, 'x')));
}

struct file_key_case {
  const char* name;
  const char* file;
  const char* key;  // nullptr: not one of ours
};

class notification_file_key : public ::testing::TestWithParam<file_key_case> {};

TEST_P(notification_file_key, finds_the_booking_part) {
  const auto got = mail_key_of_file(GetParam().file);
  if (GetParam().key)
    EXPECT_EQ(got.value_or("(none)"), GetParam().key);
  else
    EXPECT_FALSE(got.has_value()) << *got;
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_file_key,
    ::testing::Values(file_key_case{"ours", "1700000000.BB-1.host", "BB-1"},
                      file_key_case{"dotted_host", "1700000000.BB-1.mail.example.com", "BB-1"},
                      file_key_case{"with_flags", "1700000000.BB-1.host:2,RS", "BB-1"},
                      file_key_case{"hashed", "1700000000.H0123456789abcdef.host", "H0123456789abcdef"},
                      file_key_case{"old_unique_name", "1700000000.4242_7.host", nullptr},
                      file_key_case{"no_host", "1700000000.BB-1", nullptr},
                      file_key_case{"empty_host", "1700000000.BB-1.", nullptr},
                      file_key_case{"time_not_digits", "17x.BB-1.host", nullptr},
                      file_key_case{"no_time", ".BB-1.host", nullptr},
                      file_key_case{"short_hash", "1700000000.H0123.host", nullptr},
                      file_key_case{"hash_capitals", "1700000000.H0123456789ABCDEF.host", nullptr},
                      file_key_case{"bad_escape", "1700000000.BB%2.host", nullptr},
                      file_key_case{"escaped_safe_byte", "1700000000.B%41.host", nullptr},
                      file_key_case{"other_marker", "1700000000.M123P45.host", nullptr}),
    [](const auto& info) { return std::string(info.param.name); });

// --- durable state ------------------------------------------------------------

const char* const settings = "from: bookings@troupe.example\nmaildir: mail";

// A notification service on <dir>/mail that can be restarted as after kill -9.
stored_service notification_with_store(const temp_dir& dir) {
  const auto root = dir.path();
  stored_service s([root] {
    cluster::diagnostics diag("test.yaml");
    auto svc = test::build("notification", settings, diag, service_context{"n1", root / "data", root});
    if (!svc)
      throw std::runtime_error(diag.to_string());
    return svc;
  });
  s.svc().start();
  return s;
}

std::size_t messages_in(const fs::path& root) {
  return test::files_in(root / "new").size() + test::files_in(root / "cur").size();
}

TEST(notification, records_the_email_row) {
  temp_dir dir;
  auto a = notification_with_store(dir);
  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-1")).status, outcome::ok);
  const auto& c = a.last_changes().changes();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].table, "emails");
  EXPECT_EQ(c[0].key, "B-1");
  EXPECT_EQ(c[0].value, (json{{"kind", "confirmed"},
                              {"file", (dir.path() / "mail" / "new" / ("1700000000.BB-1." + maildir::host_name())).string()},
                              {"seq", 1}}));
  ASSERT_EQ(a.deliver("BookingCancelled", booking_cancelled("B-1")).status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
}

TEST(notification, restore_from_the_recorded_changes_gives_the_same_behaviour) {
  temp_dir dir;
  auto a = notification_with_store(dir);
  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-3")).status, outcome::ok);
  ASSERT_EQ(a.deliver("BookingCancelled", booking_cancelled("B-1")).status, outcome::ok);
  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-2")).status, outcome::ok);
  auto bad = ticket_issued("B-4");
  bad.erase("seat");
  ASSERT_EQ(a.deliver("TicketIssued", bad).status, outcome::permanent);
  ASSERT_EQ(messages_in(dir.path() / "mail"), 3u);

  auto b = a.restored();
  b->start();
  test::expect_restored_like(a, *b, {"emails"});
  EXPECT_EQ(b->query("emails", json::object())[0]["booking_id"], "B-3") << "sending order, not key order";
  EXPECT_EQ(messages_in(dir.path() / "mail"), 3u) << "no second email";

  // A new booking is mailed, once, and comes last.
  ASSERT_EQ(deliver(*b, "BookingCancelled", booking_cancelled("B-4")).status, outcome::ok);
  EXPECT_TRUE(deliver(*b, "TicketIssued", ticket_issued("B-4")).emitted.empty());
  EXPECT_EQ(messages_in(dir.path() / "mail"), 4u);
  const auto rows = b->query("emails", json::object());
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[3]["booking_id"], "B-4");
  EXPECT_EQ(rows[3]["kind"], "cancelled");
}

TEST(notification, restore_reads_the_rows_not_the_maildir) {
  temp_dir dir;
  auto a = notification_with_store(dir);
  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-1")).status, outcome::ok);
  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-2")).status, outcome::ok);
  // The customer deleted B-1's email; B-2's row was lost.
  fs::remove(a.store().rows().at("emails").at("B-1")["file"].get<std::string>());
  a.store().rows()["emails"].erase("B-2");
  auto b = a.restored();
  b->start();
  const auto rows = b->query("emails", json::object());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["booking_id"], "B-1");
  // Redelivering B-1 sends nothing: the row says it was sent.
  EXPECT_EQ(deliver(*b, "TicketIssued", ticket_issued("B-1")).status, outcome::ok);
  EXPECT_EQ(messages_in(dir.path() / "mail"), 1u);
}

struct crash_case {
  const char* name;
  // What happens to the message between the crash and the redelivery.
  std::function<void(const fs::path& root, const fs::path& file)> meanwhile;
  const char* found_in;  // "new" or "cur"
};

class notification_crash : public ::testing::TestWithParam<crash_case> {};

TEST_P(notification_crash, between_write_and_commit_sends_no_second_email) {
  const auto& c = GetParam();
  temp_dir dir;
  auto a = notification_with_store(dir);
  ASSERT_EQ(a.deliver("BookingCancelled", booking_cancelled("B-0")).status, outcome::ok);
  const auto ev = make_event("TicketIssued", ticket_issued("B-1"), {}, "B-1", 1'700'000'123'456);
  ASSERT_EQ(a.deliver_and_crash(ev).status, outcome::ok);
  const auto root = dir.path() / "mail";
  const auto written = root / "new" / ("1700000123.BB-1." + maildir::host_name());
  ASSERT_TRUE(fs::exists(written));
  c.meanwhile(root, written);
  ASSERT_EQ(messages_in(root), 2u);

  a.restart();  // from the store, which never got B-1's row
  ASSERT_EQ(a.svc().query("emails", json::object()).size(), 1u);
  const auto h = a.deliver(ev);
  ASSERT_EQ(h.status, outcome::ok) << h.error;
  EXPECT_TRUE(h.emitted.empty());
  EXPECT_EQ(messages_in(root), 2u) << "no second email";
  EXPECT_TRUE(test::files_in(root / "tmp").empty());
  const auto& changes = a.last_changes().changes();
  ASSERT_EQ(changes.size(), 1u) << "the email is recorded as sent";
  EXPECT_EQ(changes[0].table, "emails");
  EXPECT_EQ(changes[0].key, "B-1");
  EXPECT_EQ((*changes[0].value)["kind"], "confirmed");
  const fs::path file = (*changes[0].value)["file"].get<std::string>();
  EXPECT_EQ(file.parent_path(), root / c.found_in);
  EXPECT_TRUE(fs::exists(file)) << file;

  // And from now on it is known without looking at the Maildir.
  a.restart();
  const auto again = a.deliver(ev);
  EXPECT_EQ(again.status, outcome::ok);
  EXPECT_TRUE(a.last_changes().empty());
  EXPECT_EQ(messages_in(root), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_crash,
    ::testing::Values(
        crash_case{"still_in_new", [](const fs::path&, const fs::path&) {}, "new"},
        crash_case{"read_and_flagged_in_cur",
                   [](const fs::path& root, const fs::path& file) {
                     fs::rename(file, root / "cur" / (file.filename().string() + ":2,S"));
                   },
                   "cur"},
        crash_case{"moved_to_cur_without_flags",
                   [](const fs::path& root, const fs::path& file) { fs::rename(file, root / "cur" / file.filename()); },
                   "cur"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(notification, crash_before_the_rename_leaves_tmp_and_the_retry_delivers_once) {
  temp_dir dir;
  auto a = notification_with_store(dir);
  const auto root = dir.path() / "mail";
  const auto name = "1700000000.BB-1." + maildir::host_name();
  { std::ofstream(root / "tmp" / name) << "half a mess"; }  // what the crash left behind
  ASSERT_EQ(a.deliver("TicketIssued", ticket_issued("B-1")).status, outcome::ok);
  EXPECT_TRUE(test::files_in(root / "tmp").empty());
  ASSERT_EQ(test::files_in(root / "new").size(), 1u);
  std::string why;
  const auto m = parse_mail(test::read_file(root / "new" / name), why);
  ASSERT_TRUE(m) << why;
  EXPECT_EQ(m->get("X-Troupe-Booking"), "B-1");
}

TEST(notification, a_crash_case_with_a_cancellation_too) {
  temp_dir dir;
  auto a = notification_with_store(dir);
  const auto ev = make_event("BookingCancelled", booking_cancelled("B-7", "card declined"));
  ASSERT_EQ(a.deliver_and_crash(ev).status, outcome::ok);
  a.restart();
  ASSERT_EQ(a.deliver(ev).status, outcome::ok);
  EXPECT_EQ(messages_in(dir.path() / "mail"), 1u);
  EXPECT_EQ(a.svc().query("emails", json::object())[0]["kind"], "cancelled");
}

struct bad_email_row_case {
  const char* name;
  json row;
  const char* error;
};

class notification_bad_row : public ::testing::TestWithParam<bad_email_row_case> {};

TEST_P(notification_bad_row, stops_the_restore_naming_the_row) {
  mailbox mb;
  mb.svc->restore("emails", "B-1", {{"kind", "confirmed"}, {"file", "/x"}, {"seq", 1}});
  try {
    mb.svc->restore("emails", "B-2", GetParam().row);
    FAIL() << "restored a bad row";
  } catch (const restore_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("restore notification: emails/B-2: ", 0), 0u) << what;
    EXPECT_NE(what.find(GetParam().error), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    cases, notification_bad_row,
    ::testing::Values(
        bad_email_row_case{"unknown_kind", json{{"kind", "sent"}, {"file", "/y"}, {"seq", 2}},
                           "kind: must be confirmed or cancelled"},
        bad_email_row_case{"no_file", json{{"kind", "confirmed"}, {"seq", 2}}, "file: missing"},
        bad_email_row_case{"seq_taken", json{{"kind", "confirmed"}, {"file", "/y"}, {"seq", 1}},
                           "seq: also used by booking B-1"}),
    [](const auto& info) { return std::string(info.param.name); });

} // namespace
} // namespace troupe::flight
