// Nothing lost when peers die: real node processes, real sockets, real
// SQLite files, and signals that stop, continue and kill them.
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"
#include "wire/endpoint.hpp"
#include "wire/envelope.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::map<std::string, std::vector<std::string>> pair_nodes = {{"src", {"ticket"}}, {"dst", {"sink"}}};
const char* pair_rules = "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink}\n";

/// PutEvents `n` Ping events to `node` in batches; returns how many the
/// node acknowledged (accepted durably).
std::size_t put_pings(cluster& c, const std::string& node, std::size_t n, std::size_t batch = 100) {
  wire::client client(c.control(node), c.curve(node));
  std::string detail;
  json::to_msgpack(json{{"n", 1}, {"pad", std::string(100, 'x')}}, detail);
  std::size_t acked = 0;
  for (std::size_t sent = 0; sent < n;) {
    wire::control_request req;
    req.verb = "put";
    for (std::size_t i = 0; i < batch && sent < n; ++i, ++sent)
      req.entries.push_back({"test", "Ping", detail, "", {}, {}});
    auto rep = client.call(req, 5s);
    if (rep && rep->ok)
      acked += rep->results.size();
  }
  return acked;
}

json sink_count(const troupe::cluster::config& cfg) {
  auto r = cli::query(cfg, "sink", "count", json::object(), 2s);
  return r ? *r : json{{"distinct", 0}, {"duplicates", 0}};
}

/// Starts src and dst by themselves; their config once both answer.
std::optional<troupe::cluster::config> start_pair(cluster& c) {
  c.start_node("src");
  c.start_node("dst");
  if (!c.node_answers("src", 10s) || !c.node_answers("dst", 10s))
    return std::nullopt;
  return cli::load_config(c.config_path());
}

bool sink_reaches(const troupe::cluster::config& cfg, std::size_t n, std::chrono::seconds timeout) {
  return wait_until([&] { return sink_count(cfg)["distinct"].get<std::size_t>() >= n; }, timeout);
}

TEST(durability, a_subscriber_started_long_after_the_publisher_gets_everything) {
  cluster c(pair_nodes, pair_rules);
  c.start_node("src");
  ASSERT_TRUE(c.node_answers("src", 10s));
  ASSERT_EQ(put_pings(c, "src", 1500), 1500u);
  c.start_node("dst");
  ASSERT_TRUE(c.node_answers("dst", 10s));
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(sink_reaches(*cfg, 1500, 30s)) << sink_count(*cfg).dump() << c.node_output("dst");
  const auto n = sink_count(*cfg);
  EXPECT_EQ(n["distinct"], 1500);
  EXPECT_EQ(n["duplicates"], 0);
}

TEST(durability, a_stopped_subscriber_catches_up_and_the_publisher_keeps_going) {
  cluster c(pair_nodes, pair_rules);
  auto cfg = start_pair(c);
  ASSERT_TRUE(cfg);
  ASSERT_EQ(put_pings(c, "src", 200), 200u);
  ASSERT_TRUE(sink_reaches(*cfg, 200, 30s));
  c.signal_node("dst", SIGSTOP);
  // The publisher goes on accepting while its subscriber is frozen.
  ASSERT_EQ(put_pings(c, "src", 5000, 500), 5000u);
  c.signal_node("dst", SIGCONT);
  ASSERT_TRUE(sink_reaches(*cfg, 5200, 60s)) << sink_count(*cfg).dump();
  EXPECT_EQ(sink_count(*cfg)["duplicates"], 0);
}

// Kills `victim` (the publisher or the subscriber) three times with SIGKILL
// while PutEvents keep coming: everything acknowledged arrives exactly
// once; unacknowledged puts may or may not have been accepted before a kill.
class killed_mid_stream : public ::testing::TestWithParam<const char*> {};

TEST_P(killed_mid_stream, nothing_acknowledged_is_lost_or_doubled) {
  const std::string victim = GetParam();
  cluster c(pair_nodes, pair_rules);
  auto cfg = start_pair(c);
  ASSERT_TRUE(cfg);
  std::atomic<bool> done{false};
  std::atomic<std::size_t> acked{0};
  std::thread producer([&] {
    while (!done)
      acked += put_pings(c, "src", 100, 50);
  });
  bool restarted = true;
  for (int round = 0; round < 3 && restarted; ++round) {
    const auto before = acked.load();
    restarted = wait_until([&] { return acked.load() > before + 300; }, 30s);
    c.signal_node(victim, SIGKILL);
    EXPECT_EQ(c.wait_node(victim), 128 + SIGKILL) << victim << " did not die of SIGKILL";
    c.start_node(victim);
    restarted = restarted && c.node_answers(victim, 10s);
  }
  done = true;
  producer.join();  // before any assertion can leave this scope
  ASSERT_TRUE(restarted) << c.node_output(victim);
  ASSERT_TRUE(sink_reaches(*cfg, acked.load(), 60s)) << sink_count(*cfg).dump() << " acked " << acked.load();
  const auto n = sink_count(*cfg);
  EXPECT_EQ(n["duplicates"], 0);
  EXPECT_GE(n["distinct"].get<std::size_t>(), acked.load());
}

INSTANTIATE_TEST_SUITE_P(durability, killed_mid_stream, ::testing::Values("src", "dst"),
                         [](const auto& info) { return std::string(info.param) == "src" ? "publisher" : "subscriber"; });

// A subscriber that was down misses events published meanwhile (PUB/SUB
// drops them); when it is back, it asks its origin, which answers from its
// outbox, and it takes every event once, in the order they were published.
// ticket numbers its tickets in the order it handles SeatAssigned events.
TEST(durability, a_restarted_subscriber_gets_what_it_missed_by_replay_in_order) {
  cluster c({{"src", {"sink"}}, {"dst", {"ticket"}}},
            "rules:\n  - {name: tickets, pattern: {\"detail-type\": [\"SeatAssigned\"]}, target: ticket}\n");
  auto cfg = start_pair(c);
  ASSERT_TRUE(cfg);
  std::vector<std::string> put_order;
  const auto put_seats = [&](std::size_t n) {
    wire::client client(c.control("src"), c.curve("src"));
    wire::control_request req;
    req.verb = "put";
    for (std::size_t i = 0; i < n; ++i) {
      put_order.push_back("B" + std::to_string(put_order.size()));
      std::string detail;
      json::to_msgpack(json{{"booking_id", put_order.back()}, {"seat", "1A"}, {"flight", "F"}, {"customer", "C"},
                            {"email", "c@example.com"}, {"amount", 100}},
                       detail);
      req.entries.push_back({"test", "SeatAssigned", detail, "", {}, {}});
    }
    auto rep = client.call(req, 10s);
    return rep && rep->ok && rep->results.size() == n;
  };
  json tickets;
  const auto tickets_reach = [&](std::size_t n) {
    return wait_until(
        [&] {
          auto t = cli::query(*cfg, "ticket", "tickets", json::object(), 2s);
          if (t)
            tickets = *t;
          return t && tickets.size() >= n;
        },
        30s);
  };
  ASSERT_TRUE(put_seats(10));
  ASSERT_TRUE(tickets_reach(10)) << tickets.dump();

  c.signal_node("dst", SIGTERM);
  ASSERT_EQ(c.wait_node("dst"), 0) << c.node_output("dst");
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(put_seats(100));
  c.start_node("dst");
  ASSERT_TRUE(c.node_answers("dst", 10s));
  ASSERT_TRUE(tickets_reach(510)) << tickets.size() << " tickets";

  // Every booking once, numbered in the order it was put.
  ASSERT_EQ(tickets.size(), put_order.size());
  for (std::size_t i = 0; i < tickets.size(); ++i) {
    char want[32];
    std::snprintf(want, sizeof want, "TRP-%010zu", i + 1);
    ASSERT_EQ(tickets[i]["booking_id"], put_order[i]) << "ticket " << i;
    ASSERT_EQ(tickets[i]["ticket"], want) << tickets[i].dump();
  }
  // They came by replay: the new incarnation asked, src served, and the
  // 500 it missed came in replay batches.
  auto dst = cli::status(*cfg, *cfg->find_node("dst"), 2s);
  auto src = cli::status(*cfg, *cfg->find_node("src"), 2s);
  ASSERT_TRUE(dst && src);
  EXPECT_GE((*dst)["bus"]["replays_asked"].get<std::int64_t>(), 1) << dst->dump(1);
  EXPECT_GE((*dst)["bus"]["replayed_in"].get<std::int64_t>(), 500) << dst->dump(1);
  EXPECT_GE((*src)["bus"]["replays_served"].get<std::int64_t>(), 1) << src->dump(1);
}

TEST(durability, a_node_whose_database_is_deleted_is_a_new_epoch_and_peers_cope) {
  cluster c(pair_nodes, pair_rules);
  auto cfg = start_pair(c);
  ASSERT_TRUE(cfg);
  ASSERT_EQ(put_pings(c, "src", 300), 300u);
  ASSERT_TRUE(sink_reaches(*cfg, 300, 30s));
  auto old_epoch = cli::status(*cfg, *cfg->find_node("src"), 2s);
  ASSERT_TRUE(old_epoch);
  c.signal_node("src", SIGKILL);
  ASSERT_EQ(c.wait_node("src"), 128 + SIGKILL);
  std::filesystem::remove_all(c.node_data_dir("src"));
  c.start_node("src");
  ASSERT_TRUE(c.node_answers("src", 10s));
  auto new_epoch = cli::status(*cfg, *cfg->find_node("src"), 2s);
  ASSERT_TRUE(new_epoch);
  EXPECT_GT((*new_epoch)["epoch"].get<std::uint64_t>(), (*old_epoch)["epoch"].get<std::uint64_t>());
  // The new incarnation's seq 1.. are new events, not duplicates of the old ones.
  ASSERT_EQ(put_pings(c, "src", 200), 200u);
  ASSERT_TRUE(sink_reaches(*cfg, 500, 30s)) << sink_count(*cfg).dump();
  EXPECT_EQ(sink_count(*cfg)["duplicates"], 0);
}

TEST(durability, a_corrupt_database_refuses_to_start_the_node) {
  cluster c(pair_nodes, pair_rules);
  std::filesystem::create_directories(c.node_data_dir("dst"));
  {
    std::ofstream f(c.node_data_dir("dst") / "node.db", std::ios::binary);
    f << std::string("SQLite format 3") << std::string(4096, '\x7f');
  }
  c.start_node("dst");
  const int code = c.wait_node("dst");
  EXPECT_EQ(code, 1) << c.node_output("dst");
  const auto out = c.node_output("dst");
  EXPECT_NE(out.find("cannot open the store"), std::string::npos) << out;
  EXPECT_EQ(out.find("ready:"), std::string::npos) << out;
  EXPECT_EQ(out.find("terminate called"), std::string::npos) << out;
}

// A peer that replays, repeats, reorders, or claims a seq far in the
// future: the subscriber takes each event once, in order, and nothing else.
// It holds rogue's key: a node of the cluster gone wrong, not a stranger.
TEST(durability, a_lying_peer_cannot_corrupt_a_cursor) {
  cluster c({{"rogue", {"ticket"}}, {"dst", {"sink"}}}, pair_rules);
  auto cfg = cli::load_config(c.config_path());
  zmq::context_t ctx;
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::linger, 0);
  pub.set(zmq::sockopt::curve_server, 1);
  pub.set(zmq::sockopt::curve_secretkey, c.keys_of("rogue").secret_key);
  pub.bind(cfg->find_node("rogue")->pub);
  c.start_node("dst");
  ASSERT_TRUE(c.node_answers("dst", 10s));
  auto send = [&](std::uint64_t seq, const std::string& id) {
    wire::envelope e;
    e.id = id;
    e.source = "rogue";
    e.detail_type = "Ping";
    e.origin = "rogue";
    e.epoch = 7;
    e.seq = seq;
    e.detail = "\x80";
    std::string bytes;
    ASSERT_TRUE(wire::encode(e, bytes));
    pub.send(zmq::buffer(wire::topic_of("Ping")), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(bytes), zmq::send_flags::none);
  };
  // Until the subscription has arrived, seq 1 may be lost: repeat it.
  ASSERT_TRUE(wait_until(
      [&] {
        send(1, "id-1");
        std::this_thread::sleep_for(20ms);
        return sink_count(*cfg)["distinct"] == 1;
      },
      10s));
  send(1, "id-1");               // repeated
  send(1000000000, "id-future"); // far in the future: a gap, not a jump
  send(3, "id-3");               // out of order: a gap
  send(2, "id-2");               // the next one
  send(2, "id-2-again");         // same seq, different id: a duplicate seq
  send(3, "id-3");               // now in order
  ASSERT_TRUE(wait_until([&] { return sink_count(*cfg)["distinct"] == 3; }, 10s)) << sink_count(*cfg).dump();
  // A sentinel after them: once it is in, anything wrong sent before it on
  // this one connection would be in too.
  send(4, "id-4");
  ASSERT_TRUE(wait_until([&] { return sink_count(*cfg)["distinct"] >= 4; }, 10s)) << sink_count(*cfg).dump();
  const auto n = sink_count(*cfg);
  EXPECT_EQ(n["distinct"], 4) << n.dump();
  EXPECT_EQ(n["duplicates"], 0);
  auto s = cli::status(*cfg, *cfg->find_node("dst"), 2s);
  ASSERT_TRUE(s);
  EXPECT_GE((*s)["bus"]["duplicates"].get<int>(), 2);
  EXPECT_GE((*s)["bus"]["gaps"].get<int>(), 1);
}

} // namespace
} // namespace troupe::test
