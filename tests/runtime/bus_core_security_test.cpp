// The bus of a keyed cluster: what claims to be someone it is not is
// dropped and counted as forged, and what a client's roles do not allow is
// refused with the missing role named.
#include "actors/runtime/bus_core.hpp"

#include <gtest/gtest.h>

#include "tests/runtime/security_fixtures.hpp"
#include "wire/control.hpp"
#include "wire/stream.hpp"

namespace troupe::runtime {
namespace {

using test::event_of;

/// Node `down` of the keyed cluster (service b takes B), driven by hand.
struct keyed_bus {
  cluster::config cfg = test::keyed_cluster();
  test::recording_port port;
  std::unique_ptr<bus_core> bus;

  keyed_bus() {
    bus_setup s;
    s.node = "down";
    s.cfg = &cfg;
    s.epoch = 77;
    s.topo = std::make_shared<const topology>(*topology_of(cfg));
    s.services = {"b"};
    s.log = test::quiet_log();
    s.registry = &test::keyed_registry();
    bus = std::make_unique<bus_core>(std::move(s), port);
    bus->start();
  }

  wire::control_reply reply(std::size_t i, const std::string& verb) {
    EXPECT_GT(port.replies.size(), i);
    auto r = wire::decode_reply(port.replies.at(i).second, verb);
    EXPECT_TRUE(r);
    return *r;
  }
};

std::string put_of(std::string source, std::string type) {
  wire::control_request r;
  r.verb = "put";
  r.entries.push_back({std::move(source), std::move(type), "\x80", "", {}, ""});
  return wire::encode(r);
}

TEST(bus_core_security, an_event_whose_origin_is_not_the_publisher_is_forged_and_moves_no_stream) {
  keyed_bus f;
  // `dead`'s PUB carries an event claiming to be up's B #1.
  f.bus->on_events("dead", {event_of("up", "B", 5, 1)});
  EXPECT_EQ(f.bus->counters().forged, 1u);
  f.port.commit_all(*f.bus);
  EXPECT_TRUE(f.port.all_delivered("b").empty());
  // The real #1 from up still counts as new, not as a duplicate.
  f.bus->on_events("up", {event_of("up", "B", 5, 1)});
  f.port.commit_all(*f.bus);
  EXPECT_EQ(f.port.all_delivered("b").size(), 1u);
  EXPECT_EQ(f.bus->counters().duplicates, 0u);
}

TEST(bus_core_security, a_node_publishing_a_detail_type_it_may_not_originate_is_forged) {
  keyed_bus f;
  // `dead` runs only the DLQ: B is not one of its detail-types.
  f.bus->on_events("dead", {event_of("dead", "B", 5, 1)});
  f.port.commit_all(*f.bus);
  EXPECT_EQ(f.bus->counters().forged, 1u);
  EXPECT_TRUE(f.port.all_delivered("b").empty());
  // Its heartbeat naming that stream asks for no replay of it.
  f.bus->on_heartbeat("dead", wire::encode(wire::heartbeat{"dead", 5, {{"B", 9}}}));
  for (const auto& [node, bytes] : f.port.to_peers)
    EXPECT_NE(wire::peer_verb(bytes), "replay") << node;
}

TEST(bus_core_security, a_heartbeat_claiming_another_origin_is_forged) {
  keyed_bus f;
  f.bus->on_heartbeat("dead", wire::encode(wire::heartbeat{"up", 5, {{"B", 9}}}));
  EXPECT_EQ(f.bus->counters().forged, 1u);
  EXPECT_TRUE(f.port.to_peers.empty());
  // From up itself, the gap behind head 9 is asked for.
  f.bus->on_heartbeat("up", wire::encode(wire::heartbeat{"up", 5, {{"B", 9}}}));
  ASSERT_FALSE(f.port.to_peers.empty());
  EXPECT_EQ(f.port.to_peers.back().first, "up");
}

TEST(bus_core_security, acks_and_replay_requests_count_only_from_the_node_they_name) {
  keyed_bus f;
  const auto ack = wire::encode(wire::ack{"up", {{"B", 77, 1}}});
  f.bus->on_request("x", "dead", ack);  // dead pretending to be up
  f.bus->on_request("x", "ops", ack);   // a client
  EXPECT_EQ(f.bus->counters().forged, 2u);
  EXPECT_EQ(f.bus->counters().bad_acks, 0u);  // refused before it was read as an ack

  // up consumes A (its rule r-a), not B.
  const auto replay = wire::encode(wire::replay_request{"up", "A", 0, 1, 100});
  f.bus->on_request("x", "ops", replay);
  f.bus->on_request("x", "dead", replay);
  f.bus->on_request("x", "up", wire::encode(wire::replay_request{"up", "B", 0, 1, 100}));
  EXPECT_EQ(f.bus->counters().forged, 5u);
  EXPECT_EQ(f.bus->counters().replays_served, 0u);
  f.port.commit_all(*f.bus);
  EXPECT_TRUE(f.port.replies.empty());  // nothing was read out of the outbox
  f.bus->on_request("x", "up", replay);
  EXPECT_EQ(f.bus->counters().replays_served, 0u);  // no stream A here: answered at once, empty
  ASSERT_EQ(f.port.replies.size(), 1u);
  EXPECT_EQ(wire::peer_verb(f.port.replies[0].second), "events");
}

TEST(bus_core_security, a_request_the_roles_do_not_allow_is_refused_naming_the_role) {
  keyed_bus f;
  f.bus->on_request("c1", "viewer", put_of("app", "B"));
  auto r = f.reply(0, "put");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.body.find("lacks the role 'producer'"), std::string::npos) << r.body;

  wire::control_request status;
  status.verb = "status";
  f.bus->on_request("c2", "shop", wire::encode(status));
  r = f.reply(1, "status");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.body.find("'reader'"), std::string::npos) << r.body;
  f.bus->on_request("c3", "up", wire::encode(status));  // a peer is not a client
  EXPECT_FALSE(f.reply(2, "status").ok);
  EXPECT_EQ(f.bus->counters().access_refused, 3u);
  EXPECT_TRUE(f.port.writes.empty());
}

TEST(bus_core_security, a_read_of_the_store_needs_a_reader_and_no_node_may_ask_it) {
  keyed_bus f;
  wire::control_request read;
  read.verb = "read";
  read.limit = 10;
  f.bus->on_request("c1", "shop", wire::encode(read));
  auto r = f.reply(0, "read");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.body.find("lacks the role 'reader' that 'read' needs"), std::string::npos) << r.body;
  f.bus->on_request("c2", "up", wire::encode(read));
  r = f.reply(1, "read");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.body.find("is a peer"), std::string::npos) << r.body;
  EXPECT_TRUE(f.port.reads.empty()) << "nothing was read for them";
  EXPECT_EQ(f.bus->counters().access_refused, 2u);

  f.bus->on_request("c3", "viewer", wire::encode(read));
  ASSERT_EQ(f.port.reads.size(), 1u);
  EXPECT_EQ(f.port.reads[0].limit, 10u);
  f.port.asks.front()(*f.bus);
  EXPECT_TRUE(f.reply(2, "read").ok);
}

TEST(bus_core_security, a_producer_puts_only_its_sources_and_the_nodes_detail_types) {
  keyed_bus f;
  wire::control_request r;
  r.verb = "put";
  r.entries.push_back({"app", "B", "\x80", "", {}, ""});        // ok
  r.entries.push_back({"other", "B", "\x80", "", {}, ""});      // not shop's source
  r.entries.push_back({"app", "A", "\x80", "", {}, ""});        // up's detail-type
  r.entries.push_back({cluster::dlq_command_source, "DeadLetterPurgeRequested", "\x80", "", {}, ""});
  f.bus->on_request("c1", "shop", wire::encode(r));
  f.port.commit_all(*f.bus);
  auto rep = f.reply(0, "put");
  ASSERT_TRUE(rep.ok);
  ASSERT_EQ(rep.results.size(), 4u);
  EXPECT_TRUE(rep.results[0].ok()) << rep.results[0].error();
  EXPECT_EQ(rep.results[1].error_code, "NotAuthorizedForSourceException");
  EXPECT_EQ(rep.results[2].error_code, "NotAuthorizedForDetailTypeException");
  EXPECT_EQ(rep.results[3].error_code, "NotAuthorizedForSourceException");
  EXPECT_NE(rep.results[3].error_message.find("operator"), std::string::npos);
  EXPECT_EQ(f.bus->counters().access_refused, 3u);
  EXPECT_EQ(f.port.all_delivered("b").size(), 1u);
}

TEST(bus_core_security, an_idempotency_key_is_the_clients_own) {
  keyed_bus f;
  const auto put_keyed = [&](const std::string& who, const std::string& key, int n) {
    wire::control_request r;
    r.verb = "put";
    std::string detail;
    nlohmann::json::to_msgpack(nlohmann::json{{"n", n}}, detail);
    r.entries.push_back({"app", "B", detail, "", {}, key});
    f.bus->on_request(who, who, wire::encode(r));
    f.port.commit_all(*f.bus);
    return wire::decode_reply(f.port.replies.back().second, "put")->results.at(0);
  };
  const auto first = put_keyed("any", "K1", 1);
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ(put_keyed("any", "K1", 1).id, first.id);  // its own retry
  const auto other = put_keyed("shop", "K1", 1);      // the same key, another client
  ASSERT_TRUE(other.ok()) << other.error();
  EXPECT_NE(other.id, first.id);
  EXPECT_TRUE(put_keyed("shop", "K1", 2).error_code == "IdempotencyKeyMismatch");  // still keyed, for shop
  EXPECT_EQ(f.port.all_delivered("b").size(), 2u);
}

} // namespace
} // namespace troupe::runtime
