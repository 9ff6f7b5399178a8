// Puts bookings straight on the booking node's control socket, as the
// fault and DLQ tests do: one per customer name, on flight BIG.
#pragma once

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {

/// The flight services' settings with one big flight, BIG, that never fills.
inline const char* big_flight_services = R"(
services:
  payment:
    gateway: {declined-cards: ["4000000000000002"], default-limit: 10000}
  seat:
    flights:
      BIG: {rows: 60, layout: "ABC DEF"}
  notification:
    maildir: mail
    from: "troupe <bookings@troupe.test>"
)";

/// One booking per customer name; returns their ids, in order (none when
/// the PutEvents call failed).
inline std::vector<std::string> book(cluster& c, const std::vector<std::string>& customers) {
  using json = nlohmann::json;
  wire::client client(c.control("booking"), c.curve("booking"));
  wire::control_request req;
  req.verb = "put";
  for (std::size_t i = 0; i < customers.size(); ++i) {
    json d{{"customer", customers[i]},       {"email", "c" + std::to_string(i) + "@example.com"},
           {"flight", "BIG"},                {"seat_preference", "any"},
           {"amount", 100 + static_cast<int>(i)}, {"card", "4111111111111111"}};
    std::string detail;
    json::to_msgpack(d, detail);
    req.entries.push_back({"test", "BookingRequested", detail, "", {}, {}});
  }
  auto rep = client.call(req, std::chrono::seconds(10));
  std::vector<std::string> ids;
  if (rep && rep->ok)
    for (const auto& r : rep->results)
      ids.push_back(r.id);
  return ids;
}

/// Waits until `expect` bookings of `ids` (all of them by default) are
/// CONFIRMED; false after `timeout`. `rows` keeps the last rows read, to
/// show on failure.
inline bool wait_confirmed(const troupe::cluster::config& cfg, const std::vector<std::string>& ids,
                           std::chrono::seconds timeout, nlohmann::json& rows, std::size_t expect = SIZE_MAX) {
  if (expect == SIZE_MAX)
    expect = ids.size();
  return wait_until(
      [&] {
        auto r = cli::query(cfg, "booking", "bookings", nlohmann::json{{"ids", ids}}, std::chrono::seconds(5));
        if (!r)
          return false;
        rows = *r;
        std::size_t confirmed = 0;
        for (const auto& row : rows)
          confirmed += row.value("state", "") == "CONFIRMED";
        return confirmed == expect;
      },
      timeout);
}

/// `troupe dlq VERB CONFIG ARGS... --format json`: its records, one per line.
inline std::vector<nlohmann::json> dlq_json(const cluster& c, std::vector<std::string> args) {
  std::vector<std::string> argv{troupe_bin(), "dlq", args.at(0), c.config_path()};
  argv.insert(argv.end(), args.begin() + 1, args.end());
  argv.insert(argv.end(), {"--format", "json"});
  auto r = run_command(argv, std::chrono::seconds(30));
  EXPECT_EQ(r.code, 0) << r.output;
  std::vector<nlohmann::json> out;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{')
      out.push_back(nlohmann::json::parse(line));
  return out;
}

} // namespace troupe::test
