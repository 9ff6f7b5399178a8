// What an origin keeps in its outbox, read from its SQLite file while the
// nodes run: an event stays exactly as long as a node the config makes its
// consumer has not acked it, and is pruned once every one of them has. An
// event nobody consumes is never kept; one whose consumer is down is kept
// for it, however long the others have been done with theirs.
#include <gtest/gtest.h>

#include <signal.h>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "store/node_store.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// One number `sql` reads from `node`'s store (its first column, first
/// row), with `stream` bound to ?1 when it has one; -1 when the store
/// cannot be read, 0 when there is no row.
std::int64_t read_number(const cluster& c, const std::string& node, const std::string& sql,
                         const std::string& stream = "") {
  auto db = store::open_read_only((c.node_data_dir(node) / "node.db").string());
  if (!db)
    return -1;
  auto s = db->prepare(sql);
  if (!s)
    return -1;
  if (!stream.empty())
    s->bind(1, stream);
  auto row = s->step();
  if (!row)
    return -1;
  return *row ? s->int64(0) : 0;
}

/// Events of `stream` in `node`'s outbox, or of every stream when empty.
std::int64_t outbox_rows(const cluster& c, const std::string& node, const std::string& stream = "") {
  return stream.empty() ? read_number(c, node, "SELECT count(*) FROM outbox")
                        : read_number(c, node, "SELECT count(*) FROM outbox WHERE stream = ?1", stream);
}

/// The last seq `node` gave out on its own `stream`.
std::int64_t stream_head(const cluster& c, const std::string& node, const std::string& stream) {
  return read_number(c, node, "SELECT head FROM streams WHERE stream = ?1", stream);
}

/// Waits until `node` has published `n` more messages than now (its
/// heartbeats, every 500 ms, and its acks): by then a live consumer would
/// have acked what it took, and its origin pruned it.
bool wait_published(const troupe::cluster::config& cfg, const std::string& node, std::int64_t n) {
  const auto published = [&]() -> std::int64_t {
    auto s = cli::status(cfg, *cfg.find_node(node), 2s);
    return s ? (*s)["wire"]["published"].get<std::int64_t>() : -1;
  };
  const auto from = published();
  return from >= 0 && wait_until([&] { return published() >= from + n; }, 30s);
}

/// PutEvents of `n` events of `type` with `detail(i)` to `node`; how many
/// it accepted.
std::size_t put(cluster& c, const std::string& node, const std::string& type, std::size_t n,
                const std::function<json(std::size_t)>& detail) {
  wire::client client(c.control(node), c.curve(node));
  wire::control_request req;
  req.verb = "put";
  for (std::size_t i = 0; i < n; ++i) {
    std::string bytes;
    json::to_msgpack(detail(i), bytes);
    req.entries.push_back({"test", type, bytes, "", {}, {}});
  }
  auto rep = client.call(req, 10s);
  std::size_t accepted = 0;
  if (rep && rep->ok)
    for (const auto& r : rep->results)
      accepted += r.ok();
  return accepted;
}

json seat_assigned(std::size_t i) {
  return {{"booking_id", "B" + std::to_string(i)}, {"seat", "1A"},           {"flight", "F"},
          {"customer", "C"},                       {"email", "c@example.com"}, {"amount", 100}};
}

// src originates three streams: Orphan (no rule routes it), Ping (consumed
// by dst's sink) and SeatAssigned (consumed by tix's ticket). No node runs
// the seat service, so SeatAssigned is nobody's and src may originate it.
TEST(retention, an_event_is_kept_only_until_every_node_that_consumes_it_has_acked_it) {
  cluster c({{"src", {"booking"}}, {"dst", {"sink"}}, {"tix", {"ticket"}}},
            "rules:\n"
            "  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink}\n"
            "  - {name: tickets, pattern: {\"detail-type\": [\"SeatAssigned\"]}, target: ticket}\n");
  for (const auto* n : {"src", "dst", "tix"})
    c.start_node(n);
  for (const auto* n : {"src", "dst", "tix"})
    ASSERT_TRUE(c.node_answers(n, 10s)) << n;
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // No node consumes Orphan: its events are made (the stream's head moves)
  // and never stored for anyone. The put's answer comes after the commit.
  ASSERT_EQ(put(c, "src", "Orphan", 100, [](std::size_t i) { return json{{"n", i}}; }), 100u);
  EXPECT_EQ(stream_head(c, "src", "Orphan"), 100);
  EXPECT_EQ(outbox_rows(c, "src", "Orphan"), 0);

  // tix is down: its SeatAssigned events are kept for it, while dst's
  // Pings, acked, are pruned around them.
  c.signal_node("tix", SIGKILL);
  ASSERT_EQ(c.wait_node("tix"), 128 + SIGKILL);
  ASSERT_EQ(put(c, "src", "SeatAssigned", 50, seat_assigned), 50u);
  ASSERT_EQ(put(c, "src", "Ping", 50, [](std::size_t i) { return json{{"n", i}}; }), 50u);
  EXPECT_TRUE(wait_until(
      [&] {
        auto n = cli::query(*cfg, "sink", "count", json::object(), 2s);
        return n && (*n)["distinct"] == 50 && outbox_rows(c, "src", "Ping") == 0;
      },
      30s))
      << "Ping rows left: " << outbox_rows(c, "src", "Ping");
  EXPECT_EQ(stream_head(c, "src", "Ping"), 50);
  ASSERT_TRUE(wait_published(*cfg, "src", 4));
  EXPECT_EQ(outbox_rows(c, "src", "SeatAssigned"), 50) << "kept for tix, which has not acked them";

  // tix comes back, takes them all, acks, and they are pruned.
  c.start_node("tix");
  ASSERT_TRUE(c.node_answers("tix", 10s));
  json tickets;
  EXPECT_TRUE(wait_until(
      [&] {
        auto t = cli::query(*cfg, "ticket", "tickets", json::object(), 2s);
        if (t)
          tickets = *t;
        return t && tickets.size() == 50;
      },
      30s))
      << tickets.dump();
  EXPECT_TRUE(wait_until([&] { return outbox_rows(c, "src") == 0; }, 30s))
      << "rows left: " << outbox_rows(c, "src") << "; SeatAssigned: " << outbox_rows(c, "src", "SeatAssigned");
}

// The saga: every origin keeps what it made until its consumers acked it.
// With notification frozen, ticket keeps every TicketIssued (booking has
// acked them, notification has not) while every other stream, acked by all
// its consumers, is pruned to nothing; once notification runs again, every
// node's outbox is empty.
TEST(retention, after_a_saga_every_outbox_is_pruned_except_for_a_consumer_that_is_down) {
  cluster c(shipped{"configs/flight.yaml",
                    "supervision: {max-restarts: 100, within: 60, backoff-base: 0.05, backoff-cap: 0.2}\n",
                    std::string(big_flight_services).substr(1), ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const pid_t notification = pid_of(c, "notification");
  ASSERT_GT(notification, 0);
  ASSERT_EQ(kill(notification, SIGSTOP), 0);

  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i)
    names.push_back("Customer " + std::to_string(i));
  const auto ids = book(c, names);
  ASSERT_EQ(ids.size(), names.size());
  json rows;
  const bool confirmed = wait_confirmed(*cfg, ids, 60s, rows);
  const auto others_pruned = [&] {
    for (const auto* n : {"booking", "payment", "seat"})
      if (outbox_rows(c, n) != 0)
        return false;
    return outbox_rows(c, "ticket", "TicketIssued") == 20 && outbox_rows(c, "ticket") == 20;
  };
  const bool pruned = confirmed && wait_until(others_pruned, 30s);
  EXPECT_TRUE(confirmed) << rows.dump(1);
  EXPECT_TRUE(pruned) << "booking " << outbox_rows(c, "booking") << ", payment " << outbox_rows(c, "payment")
                      << ", seat " << outbox_rows(c, "seat") << ", ticket " << outbox_rows(c, "ticket");
  ASSERT_TRUE(wait_published(*cfg, "ticket", 6));
  EXPECT_EQ(outbox_rows(c, "ticket", "TicketIssued"), 20) << "kept for notification, which has not acked them";
  // What was pruned had been stored: each of those streams made 20 events.
  EXPECT_EQ(stream_head(c, "booking", "BookingCreated"), 20);
  EXPECT_EQ(stream_head(c, "payment", "PaymentConfirmed"), 20);
  EXPECT_EQ(stream_head(c, "seat", "SeatAssigned"), 20);
  EXPECT_EQ(stream_head(c, "ticket", "TicketIssued"), 20);

  ASSERT_EQ(kill(notification, SIGCONT), 0);
  EXPECT_TRUE(wait_until(
      [&] {
        auto e = cli::query(*cfg, "notification", "emails", json::object(), 2s);
        return e && e->size() == 20;
      },
      30s));
  EXPECT_TRUE(wait_until(
      [&] {
        for (const auto& n : node_names)
          if (outbox_rows(c, n) != 0)
            return false;
        return true;
      },
      30s))
      << "ticket keeps " << outbox_rows(c, "ticket") << " events";
  EXPECT_EQ(c.stop(), 0) << c.launcher_output().substr(0, 4000);
}

} // namespace
} // namespace troupe::test
