// What the chaos tests share: the flight cluster's services, its node
// names, and the pid the launcher last reported for a node.
#pragma once

#include <sys/types.h>

#include <cctype>
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
