// What the chaos tests share: their supervision, the flight cluster's node
// names, the pid the launcher last reported for a node, and `troupe book`
// as the load: its command line, its JSON summary, and how far it got.
#pragma once

#include <sys/types.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::test {

/// What the chaos tests add to the shipped configs/flight.yaml: a
/// supervision that restarts a node however often it is killed.
inline const char* chaos_supervision =
    "supervision: {max-restarts: 100, within: 60, backoff-base: 0.05, backoff-cap: 0.2}\n";

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

/// `troupe book` generating `count` bookings at `rate` a second, retrying a
/// PutEvents that got no reply for up to `put_timeout_s`, then waiting up to
/// `wait_s` for every outcome; its summary as one JSON object.
inline std::vector<std::string> book_command(const cluster& c, std::uint64_t count, double rate, std::uint64_t seed,
                                             double wait_s, double put_timeout_s) {
  return {troupe_bin(),
          "book",
          c.config_path(),
          "--count",
          std::to_string(count),
          "--rate",
          std::to_string(rate),
          "--seed",
          std::to_string(seed),
          "--wait",
          std::to_string(wait_s),
          "--put-timeout",
          std::to_string(put_timeout_s),
          "--quiet",
          "--format",
          "json"};
}

/// The summary `troupe book --format json` printed (its last line that is a JSON
/// object), or null.
inline nlohmann::json book_summary(const std::string& output) {
  nlohmann::json summary;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{')
      summary = nlohmann::json::parse(line, nullptr, false);
  return summary.is_object() ? summary : nlohmann::json();
}

/// How many bookings the booking service holds, in any state; nothing when
/// it does not answer in time (restarting, paused).
inline std::optional<std::int64_t> bookings_made(const troupe::cluster::config& cfg,
                                                 std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
  auto s = cli::query(cfg, "booking", "stats", nlohmann::json::object(), timeout);
  if (!s || !s->is_object())
    return std::nullopt;
  return s->value("PENDING", std::int64_t{0}) + s->value("CONFIRMED", std::int64_t{0})
         + s->value("CANCELLED", std::int64_t{0});
}

/// Waits until the booking service holds `due` bookings, `book` has exited,
/// or `timeout` has passed, asking every 50 ms (each answer counts every
/// booking); the last count it read, 0 before any.
inline std::int64_t wait_for_bookings(const troupe::cluster::config& cfg, std::int64_t due, background_command& book,
                                      std::chrono::milliseconds timeout) {
  std::int64_t made = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    made = bookings_made(cfg).value_or(made);
    if (made >= due || !book.running() || std::chrono::steady_clock::now() >= deadline)
      return made;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

} // namespace troupe::test
