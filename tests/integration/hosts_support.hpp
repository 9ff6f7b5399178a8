// What the multi-host tests share: `troupe book` run on a host as the
// load, and the checks every run ends with, each made by a CLI command run
// on a host other than the one the bookings were put on.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/chaos_support.hpp"
#include "tests/integration/hosts_cluster.hpp"

namespace troupe::test {

/// Skips the test (said on its line) where a lab cannot be made here.
#define TROUPE_NEED_HOSTS_LAB()                                       \
  do {                                                                \
    if (auto why = ::troupe::test::hosts_lab::unavailable())          \
      GTEST_SKIP() << "no network namespaces here: " << *why;         \
  } while (0)

/// `troupe book` making `count` bookings at `rate` a second, retrying an
/// unanswered PutEvents for up to `put_timeout_s`, then waiting up to
/// `wait_s` for every outcome; its summary as JSON.
inline std::vector<std::string> hosts_book_command(const hosts_cluster& c, std::uint64_t count, double rate,
                                                   std::uint64_t seed, double wait_s = 150,
                                                   double put_timeout_s = 60) {
  return {troupe_bin(), "book", c.config_path(), "--count", std::to_string(count), "--rate", std::to_string(rate),
          "--seed", std::to_string(seed), "--wait", std::to_string(wait_s), "--put-timeout",
          std::to_string(put_timeout_s), "--quiet", "--format", "json"};
}

/// How many bookings the booking service holds, asked from `host`.
inline std::int64_t hosts_bookings_made(const hosts_cluster& c, const std::string& host) {
  return c.lab().on(host, [&] { return bookings_made(c.config()).value_or(0); });
}

/// Waits until the booking service holds `due` bookings (asked from
/// `host`), `book` has exited, or `timeout` has passed; the last count.
inline std::int64_t hosts_wait_for_bookings(const hosts_cluster& c, const std::string& host, std::int64_t due,
                                            background_command& book, std::chrono::milliseconds timeout) {
  std::int64_t made = 0;
  wait_until(
      [&] {
        made = std::max(made, hosts_bookings_made(c, host));
        return made >= due || !book.running();
      },
      timeout);
  return made;
}

/// `troupe book`'s summary, after checking that it saw `target` bookings
/// to their end, each once, none dead-lettered; null when it failed.
inline nlohmann::json expect_booked(const run_result& booked, std::size_t target, const hosts_cluster& c) {
  EXPECT_EQ(booked.code, 0) << booked.output << "\n" << c.diagnostics();
  const auto summary = book_summary(booked.output);
  EXPECT_TRUE(summary.is_object()) << booked.output;
  if (!summary.is_object())
    return summary;
  EXPECT_EQ(summary["bookings"], target) << summary.dump();
  EXPECT_EQ(summary["pending"], 0) << summary.dump() << "\n" << c.diagnostics();
  EXPECT_EQ(summary["dead_lettered"], 0) << summary.dump();
  EXPECT_EQ(summary.value("confirmed", std::size_t{0}) + summary.value("cancelled", std::size_t{0}), target)
      << summary.dump();
  return summary;
}

/// `troupe bookings --format json` run on `host`: every row by id. A row
/// listed twice fails the test.
inline std::map<std::string, nlohmann::json> hosts_bookings(const hosts_cluster& c, const std::string& host) {
  const auto r = c.troupe(host, {"bookings", c.config_path(), "--format", "json"}, std::chrono::seconds(60));
  EXPECT_EQ(r.code, 0) << r.output;
  std::map<std::string, nlohmann::json> rows;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') {
      auto row = nlohmann::json::parse(line, nullptr, false);
      const auto id = row.is_object() ? row.value("id", "") : "";
      EXPECT_FALSE(id.empty()) << line;
      EXPECT_TRUE(rows.emplace(id, row).second) << "listed twice: " << line;
    }
  return rows;
}

/// Every booking that `troupe bookings`, run on `host`, lists has exactly
/// one outcome, and they are the `target` bookings `summary` counted.
inline void expect_one_outcome_each(const hosts_cluster& c, const std::string& host, const nlohmann::json& summary,
                                    std::size_t target) {
  const auto rows = hosts_bookings(c, host);
  EXPECT_EQ(rows.size(), target) << "a booking was lost or doubled";
  std::size_t confirmed = 0, cancelled = 0;
  for (const auto& [id, row] : rows) {
    const auto state = row.value("state", "");
    confirmed += state == "CONFIRMED";
    cancelled += state == "CANCELLED";
    EXPECT_TRUE(state == "CONFIRMED" || state == "CANCELLED") << row.dump();
  }
  EXPECT_EQ(confirmed, summary.value("confirmed", std::size_t{0}));
  EXPECT_EQ(cancelled, summary.value("cancelled", std::size_t{0}));
}

/// `troupe audit --format json` run on `host` passes: nothing lost,
/// nothing doubled, one email per booking, the outcomes `summary` counted.
/// It asks every node over its control socket (the online audit), across
/// the lab's links as from any other machine; a node it cannot read makes
/// it exit 3 and name the node.
inline nlohmann::json expect_audit_passes(const hosts_cluster& c, const std::string& host,
                                          const nlohmann::json& summary, std::size_t target) {
  const auto audit =
      c.troupe(host, {"audit", c.config_path(), "--format", "json", "--wait", "90"}, std::chrono::seconds(150));
  EXPECT_EQ(audit.code, 0) << audit.output << "\n" << c.diagnostics();
  const auto brace = audit.output.find('{');
  auto report = brace == std::string::npos ? nlohmann::json()
                                           : nlohmann::json::parse(audit.output.substr(brace), nullptr, false);
  EXPECT_TRUE(report.is_object()) << audit.output;
  if (!report.is_object())
    return report;
  EXPECT_TRUE(report["violations"].empty()) << report.dump(2);
  EXPECT_EQ(report["bookings"].value("PENDING", -1), 0) << report.dump();
  EXPECT_EQ(report["bookings"]["CONFIRMED"], summary["confirmed"]) << report.dump();
  EXPECT_EQ(report["bookings"]["CANCELLED"], summary["cancelled"]) << report.dump();
  EXPECT_EQ(report["emails"], target) << "one email per booking";
  return report;
}

/// `troupe trace`, run on `host`, shows each of `ids`' sagas whole: every
/// node answered across the lab's links, every event after its cause and
/// recorded by its origin, every delivery's last attempt ok, and the saga
/// ended in a ticket or a cancellation.
inline void expect_traces_whole(const hosts_cluster& c, const std::string& host, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    const auto r = c.troupe(host, {"trace", c.config_path(), id, "--format", "json"}, std::chrono::seconds(60));
    EXPECT_EQ(r.code, 0) << r.output;
    const auto t = nlohmann::json::parse(r.output, nullptr, false);
    ASSERT_TRUE(t.is_object()) << r.output;
    EXPECT_TRUE(t["nodes"]["unreachable"].empty()) << t.dump();
    EXPECT_TRUE(t["ended"] == "TicketIssued" || t["ended"] == "BookingCancelled") << t.dump();
    std::set<std::string> seen, nodes;
    for (const auto& e : t["events"]) {
      if (e.contains("parent")) {
        EXPECT_TRUE(seen.count(e["parent"].get<std::string>())) << e.dump();
      }
      EXPECT_TRUE(e.value("known", true)) << e.dump();
      seen.insert(e["id"].get<std::string>());
      for (const auto& d : e["deliveries"]) {
        nodes.insert(d.value("node", ""));
        ASSERT_FALSE(d["attempts"].empty()) << d.dump();
        EXPECT_EQ(d["attempts"].back()["result"], "ok") << d.dump();
      }
    }
    EXPECT_GE(seen.size(), 4u) << t.dump();  // a declined card: requested, created, failed, cancelled
    EXPECT_GE(nodes.size(), 3u) << "a saga's deliveries span the hosts' nodes: " << t.dump();
  }
}

} // namespace troupe::test
