// What the chaos tests share: the flight cluster's services, its node
// names, and the pid the launcher last reported for a node.
#pragma once

#include <sys/types.h>

#include <regex>
#include <string>
#include <vector>

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

/// One node per service, named after it.
inline const std::vector<std::string> node_names = {"booking", "payment", "seat", "ticket", "notification"};

/// The newest pid the launcher reported for `node`.
inline pid_t pid_of(const cluster& c, const std::string& node) {
  const auto log = c.launcher_output();
  std::regex re("(started|restarted) node " + node + " \\(pid ([0-9]+)\\)");
  pid_t pid = -1;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    pid = std::stoi((*it)[2].str());
  return pid;
}

} // namespace troupe::test
