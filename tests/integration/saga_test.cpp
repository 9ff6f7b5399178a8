// The flight-booking saga across real node processes: the shipped
// configs/flight.yaml (its rules, retry policies and services as they are,
// only ports and data directories moved) launched by `troupe launch`, real
// ZeroMQ sockets on loopback, 200 bookings that include declined cards,
// amounts over the limit, invalid card numbers and a flight that fills up.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The shipped config's flights: TR100 has 30 rows of 6 seats and never
// fills here; TR300 has 2 rows of 4.
const char* big = "TR100";
const char* small = "TR300";
constexpr int small_seats = 8;

struct expected_booking {
  json detail;
  std::string state;   // CONFIRMED / CANCELLED, or "SMALL" (depends on who got the seats on `small`)
  std::string reason;  // for CANCELLED
};

// Booking i: every tenth has a declined card, every tenth is over the card
// limit, every tenth has a number that fails the Luhn check, three in ten
// go to the small flight, the rest to the big one.
expected_booking make_booking(int i) {
  json d{{"customer", "Customer " + std::to_string(i)},
         {"email", "c" + std::to_string(i) + "@example.com"},
         {"flight", big},
         {"seat_preference", i % 3 == 0 ? "window" : i % 3 == 1 ? "aisle" : "any"},
         {"amount", 100 + i},
         {"card", "4111111111111111"}};
  switch (i % 10) {
    case 0:
      d["card"] = "4000000000000002";
      return {d, "CANCELLED", "card declined"};
    case 1:
      d["amount"] = 20000;
      return {d, "CANCELLED", "amount over the card limit"};
    case 2:
      d["card"] = "4111111111111112";
      return {d, "CANCELLED", "invalid card number"};
    case 3:
    case 4:
    case 5:
      d["flight"] = small;
      return {d, "SMALL", std::string("no seat left on ") + small};
    default:
      return {d, "CONFIRMED", ""};
  }
}

struct email {
  std::map<std::string, std::string> headers;
  std::string body;
  std::string raw;
};

std::vector<email> read_maildir(const std::filesystem::path& dir) {
  std::vector<email> out;
  if (!std::filesystem::exists(dir / "new"))
    return out;
  for (const auto& f : std::filesystem::directory_iterator(dir / "new")) {
    std::ifstream in(f.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    email e;
    e.raw = ss.str();
    const auto split = e.raw.find("\r\n\r\n");
    const auto head = e.raw.substr(0, split);
    e.body = split == std::string::npos ? "" : e.raw.substr(split + 4);
    std::size_t pos = 0;
    while (pos < head.size()) {
      auto end = head.find("\r\n", pos);
      if (end == std::string::npos)
        end = head.size();
      const auto line = head.substr(pos, end - pos);
      const auto colon = line.find(':');
      if (colon != std::string::npos)
        e.headers[line.substr(0, colon)] = line.substr(colon + 2);
      pos = end + 2;
    }
    out.push_back(std::move(e));
  }
  return out;
}

json query(const troupe::cluster::config& cfg, const std::string& svc, const std::string& what) {
  auto r = cli::query(cfg, svc, what, json::object(), 10s);
  EXPECT_TRUE(r) << (r ? "" : r.err().message);
  return r ? *r : json::array();
}

TEST(saga, two_hundred_bookings_end_in_exactly_one_right_outcome) {
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // Put the 200 bookings, 50 per PutEvents call.
  constexpr int n = 200;
  std::vector<expected_booking> expected;
  std::map<std::string, int> index_of;
  wire::client client(c.control("booking"), c.curve("booking"));
  for (int base = 0; base < n; base += 50) {
    wire::control_request req;
    req.verb = "put";
    for (int i = base; i < base + 50; ++i) {
      expected.push_back(make_booking(i));
      std::string detail;
      json::to_msgpack(expected.back().detail, detail);
      req.entries.push_back({"troupe.client", "BookingRequested", detail, "", {}, {}});
    }
    auto rep = client.call(req, 10s);
    ASSERT_TRUE(rep) << rep.err().message;
    ASSERT_TRUE(rep->ok) << rep->body;
    ASSERT_EQ(rep->results.size(), 50u);
    for (int k = 0; k < 50; ++k) {
      ASSERT_TRUE(rep->results[static_cast<std::size_t>(k)].ok());
      index_of[rep->results[static_cast<std::size_t>(k)].id] = base + k;
    }
  }
  ASSERT_EQ(index_of.size(), static_cast<std::size_t>(n)) << "event ids must be unique";

  // Every booking reaches a final state, and every customer gets a mail.
  json bookings;
  const bool settled = wait_until(
      [&] {
        bookings = query(*cfg, "booking", "bookings");
        std::size_t final_states = 0;
        for (const auto& b : bookings)
          final_states += b["state"] != "PENDING";
        return final_states == static_cast<std::size_t>(n)
               && read_maildir(c.dir() / "mail").size() >= static_cast<std::size_t>(n);
      },
      60s);
  ASSERT_TRUE(settled) << c.launcher_output();

  // Exactly one row per booking, each in the right final state.
  ASSERT_EQ(bookings.size(), static_cast<std::size_t>(n));
  std::map<std::string, json> by_id;
  int small_confirmed = 0;
  for (const auto& b : bookings) {
    const auto id = b["id"].get<std::string>();
    ASSERT_TRUE(index_of.count(id)) << "unknown booking " << id;
    ASSERT_TRUE(by_id.emplace(id, b).second) << "booking listed twice: " << id;
    const auto& want = expected[static_cast<std::size_t>(index_of[id])];
    if (want.state == "SMALL") {
      if (b["state"] == "CONFIRMED") {
        ++small_confirmed;
      } else {
        EXPECT_EQ(b["state"], "CANCELLED");
        EXPECT_EQ(b["reason"], want.reason) << id;
      }
    } else {
      EXPECT_EQ(b["state"], want.state) << id << " " << b.dump();
      if (want.state == "CANCELLED") {
        EXPECT_EQ(b["reason"], want.reason) << id;
      }
    }
    EXPECT_EQ(b["flight"], want.detail["flight"]);
    if (b["state"] == "CONFIRMED") {
      EXPECT_TRUE(b["seat"].is_string() && b["ticket"].is_string()) << b.dump();
    } else {
      EXPECT_TRUE(b["seat"].is_null() && b["ticket"].is_null()) << b.dump();
    }
  }
  EXPECT_EQ(small_confirmed, small_seats) << small << " has " << small_seats << " seats";

  // No seat assigned twice; one seat per confirmed booking.
  std::set<std::pair<std::string, std::string>> seats;
  std::set<std::string> seated;
  for (const auto& s : query(*cfg, "seat", "seats")) {
    EXPECT_TRUE(seats.insert({s["flight"].get<std::string>(), s["seat"].get<std::string>()}).second) << "seat given twice: " << s.dump();
    EXPECT_TRUE(seated.insert(s["booking_id"].get<std::string>()).second) << "booking seated twice: " << s.dump();
    EXPECT_EQ(by_id.at(s["booking_id"].get<std::string>())["state"], "CONFIRMED") << s.dump();
    EXPECT_EQ(by_id.at(s["booking_id"].get<std::string>())["seat"], s["seat"]);
  }
  // One ticket per confirmed booking, none otherwise.
  std::set<std::string> ticketed, ticket_numbers;
  for (const auto& t : query(*cfg, "ticket", "tickets")) {
    EXPECT_TRUE(ticketed.insert(t["booking_id"].get<std::string>()).second) << "two tickets for " << t.dump();
    EXPECT_TRUE(ticket_numbers.insert(t["ticket"].get<std::string>()).second) << "ticket number reused: " << t.dump();
    EXPECT_EQ(by_id.at(t["booking_id"].get<std::string>())["ticket"], t["ticket"]);
  }
  std::size_t confirmed = 0;
  for (const auto& [id, b] : by_id)
    if (b["state"] == "CONFIRMED") {
      ++confirmed;
      EXPECT_TRUE(ticketed.count(id)) << id;
      EXPECT_TRUE(seated.count(id)) << id;
    }
  EXPECT_EQ(ticketed.size(), confirmed);
  EXPECT_EQ(seated.size(), confirmed);
  EXPECT_EQ(confirmed, static_cast<std::size_t>(small_seats) + 80u);

  // Refunds: exactly the cancelled bookings on the small flight were
  // charged, then refunded.
  std::size_t refunded = 0;
  for (const auto& p : query(*cfg, "payment", "payments"))
    if (p["state"] == "REFUNDED") {
      ++refunded;
      EXPECT_EQ(by_id.at(p["booking_id"].get<std::string>())["reason"], std::string("no seat left on ") + small);
    }
  EXPECT_EQ(refunded, 60u - small_seats);

  // Exactly one email per booking, with the right content.
  std::map<std::string, int> mails;
  for (const auto& e : read_maildir(c.dir() / "mail")) {
    for (const char* h : {"From", "To", "Subject", "Date", "Message-ID", "X-Troupe-Booking"})
      ASSERT_TRUE(e.headers.count(h)) << "missing " << h << " in\n" << e.raw;
    const auto id = e.headers.at("X-Troupe-Booking");
    ++mails[id];
    const auto& b = by_id.at(id);
    const auto& want = expected[static_cast<std::size_t>(index_of[id])];
    EXPECT_NE(e.headers.at("To").find(want.detail["email"].get<std::string>()), std::string::npos);
    if (b["state"] == "CONFIRMED") {
      EXPECT_NE(e.headers.at("Subject").find("confirmed"), std::string::npos) << e.raw;
      EXPECT_NE(e.body.find(b["seat"].get<std::string>()), std::string::npos) << e.raw;
      EXPECT_NE(e.body.find(b["ticket"].get<std::string>()), std::string::npos) << e.raw;
    } else {
      EXPECT_NE(e.headers.at("Subject").find("cancelled"), std::string::npos) << e.raw;
      EXPECT_NE(e.raw.find(b["reason"].get<std::string>()), std::string::npos) << e.raw;
    }
  }
  EXPECT_EQ(mails.size(), static_cast<std::size_t>(n));
  for (const auto& [id, count] : mails)
    EXPECT_EQ(count, 1) << id;

  // The CLI shows the same: one JSON object per booking.
  auto listed = run_command({troupe_bin(), "bookings", c.config_path(), "--format", "json"}, 30s);
  ASSERT_EQ(listed.code, 0) << listed.output;
  std::istringstream lines(listed.output);
  std::string line;
  std::size_t rows = 0;
  while (std::getline(lines, line)) {
    auto j = json::parse(line);
    for (const char* k : {"id", "state", "reason", "flight", "seat", "ticket"})
      EXPECT_TRUE(j.contains(k)) << k << " missing in " << line;
    EXPECT_EQ(j["state"], by_id.at(j["id"].get<std::string>())["state"]);
    ++rows;
  }
  EXPECT_EQ(rows, static_cast<std::size_t>(n));

  // Nothing malformed crossed the wire, and Ctrl-C stops everything.
  for (const auto& node : cfg->nodes) {
    auto s = cli::status(*cfg, node, 5s);
    ASSERT_TRUE(s);
    EXPECT_EQ((*s)["wire"]["malformed"], 0) << node.name;
  }
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
}

} // namespace
} // namespace troupe::test
