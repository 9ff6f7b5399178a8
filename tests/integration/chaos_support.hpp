// What the chaos tests share: the flight cluster's services, its node
// names, and the pid the launcher last reported for a node.
#pragma once

#include <sys/types.h>

#include <cctype>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster.hpp"

namespace troupe::test {

/// The flight services' settings for the five-node chaos cluster (without
/// rules: append flight_rules).
inline const char* flight_body = R"(
supervision: {max-restarts: 100, within: 60, backoff-base: 0.05, backoff-cap: 0.2}
services:
  payment:
    gateway: {declined-cards: ["4000000000000002"], default-limit: 10000}
  seat:
    flights:
      TR100: {rows: 60, layout: "ABC DEF"}
      TR200: {rows: 30, layout: "AB CD"}
      TR300: {rows: 2, layout: "AB CD"}
  notification:
    maildir: mail
    from: "troupe <bookings@troupe.test>"
)";

/// The detail of the chaos tests' booking number `i`: a mix of flights,
/// declined cards (1 in 13) and amounts over the limit (1 in 17).
inline std::string chaos_booking(int i, const std::string& customer) {
  const nlohmann::json d{{"customer", customer},
                         {"email", "c" + std::to_string(i) + "@example.com"},
                         {"flight", i % 3 == 0 ? "TR100" : i % 3 == 1 ? "TR200" : "TR300"},
                         {"seat_preference", "any"},
                         {"amount", i % 17 == 0 ? 20000 : 100 + i % 50},
                         {"card", i % 13 == 0 ? "4000000000000002" : "4111111111111111"}};
  std::string detail;
  nlohmann::json::to_msgpack(d, detail);
  return detail;
}

/// One node per service, named after it.
inline const std::vector<std::string> node_names = {"booking", "payment", "seat", "ticket", "notification"};

/// The newest pid the launcher reported for `node` ("started node NAME (pid
/// N)" or "restarted ..."), -1 if none. A plain search from the end: the
/// log holds every node's output too and grows to megabytes in a long run.
inline pid_t pid_of(const cluster& c, const std::string& node) {
  const auto log = c.launcher_output();
  const std::string key = "started node " + node + " (pid ";
  for (auto at = log.rfind(key); at != std::string::npos; at = at == 0 ? std::string::npos : log.rfind(key, at - 1)) {
    const auto from = at + key.size();
    auto to = from;
    while (to < log.size() && std::isdigit(static_cast<unsigned char>(log[to])))
      ++to;
    if (to > from && to < log.size() && log[to] == ')')
      return static_cast<pid_t>(std::stol(log.substr(from, to - from)));
  }
  return -1;
}

} // namespace troupe::test
