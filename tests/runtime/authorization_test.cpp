// Who may do what, decided from the connection's identity: table-driven,
// on the keyed small cluster.
#include "actors/runtime/authorization.hpp"

#include <gtest/gtest.h>
#include <zmq.h>

#include "tests/runtime/security_fixtures.hpp"

namespace troupe::runtime {
namespace {

struct access_fixture : ::testing::Test {
  cluster::config cfg = test::keyed_cluster();
  authorization up{cfg, "up", &test::keyed_registry()};
  authorization down{cfg, "down", &test::keyed_registry()};
  authorization dead{cfg, "dead", &test::keyed_registry()};
};

TEST_F(access_fixture, each_verb_needs_its_role_and_peers_only_speak_the_peer_protocol) {
  struct row {
    const char* user;
    const char* verb;
    const char* refusal;  // nullptr: allowed; else a part of the reason
  };
  const row rows[] = {
      {"shop", "put", nullptr},        {"shop", "status", "lacks the role 'reader'"},
      {"shop", "query", "'reader'"},   {"viewer", "status", nullptr},
      {"viewer", "query", nullptr},    {"viewer", "put", "lacks the role 'producer' that 'put' needs (or 'operator'"},
      {"ops", "query", nullptr},       {"ops", "put", nullptr},  // its redrives and purges are puts
      {"up", "ack", nullptr},          {"up", "replay", nullptr},
      {"up", "status", "is a peer"},   {"up", "put", "is a peer"},
      {"viewer", "ack", "not a node"}, {"ops", "replay", "not a node"},
      {"shop", "read", "lacks the role 'reader' that 'read' needs"},
      {"viewer", "read", nullptr},     {"ops", "read", nullptr},
      {"up", "read", "is a peer"},     // a node reads no other's store
      {"nobody", "status", "neither a node nor a client"},
      {"nobody", "read", "neither a node nor a client"},
      {"", "put", "neither a node nor a client"},
  };
  for (const auto& r : rows) {
    const auto why = down.refuse(down.who(r.user), r.verb);
    if (!r.refusal) {
      EXPECT_FALSE(why) << r.user << " " << r.verb << ": " << why.value_or("");
    } else {
      ASSERT_TRUE(why) << r.user << " " << r.verb;
      EXPECT_NE(why->find(r.refusal), std::string::npos) << *why;
      EXPECT_EQ(why->rfind("AccessDenied", 0), 0u) << *why;
    }
  }
}

wire::put_entry entry(std::string source, std::string type) {
  return {std::move(source), std::move(type), "\x80", "", {}, ""};
}

TEST_F(access_fixture, a_put_entry_needs_its_source_the_operator_for_commands_and_a_type_the_node_originates) {
  struct row {
    const char* node;
    const char* user;
    wire::put_entry e;
    const char* code;  // "" allowed
  };
  const row rows[] = {
      {"down", "shop", entry("app", "B"), ""},
      {"down", "shop", entry("other", "B"), "NotAuthorizedForSourceException"},
      {"down", "any", entry("other", "B"), ""},
      {"down", "any", entry("app", "A"), "NotAuthorizedForDetailTypeException"},   // up's, not down's
      {"down", "any", entry("app", "Anything"), ""},  // nobody's: anyone's
      {"up", "any", entry("app", "B"), "NotAuthorizedForDetailTypeException"},  // a's handler emits B
      {"up", "any", entry("app", "A"), ""},                                    // a accepts A
      {"dead", "any", entry(cluster::dlq_command_source, "DeadLetterPurgeRequested"), "NotAuthorizedForSourceException"},
      {"dead", "ops", entry(cluster::dlq_command_source, "DeadLetterPurgeRequested"), ""},
      {"dead", "ops", entry(cluster::dlq_command_source, "DeadLetterRedriveRequested"), ""},
      {"dead", "ops", entry("app", "Anything"), "AccessDeniedException"},  // an operator is no producer
      {"down", "ops", entry(cluster::dlq_command_source, "DeadLetterPurgeRequested"),
       "NotAuthorizedForDetailTypeException"},  // commands go to the DLQ's node
  };
  for (const auto& r : rows) {
    const auto& at = std::string(r.node) == "down" ? down : std::string(r.node) == "up" ? up : dead;
    const auto why = at.refuse_entry(at.who(r.user), r.e);
    if (!*r.code)
      EXPECT_FALSE(why) << r.node << " " << r.user << " " << r.e.source << " " << r.e.detail_type << ": "
                        << why.value_or(std::pair<std::string, std::string>{}).second;
    else
      EXPECT_EQ(why.value_or(std::pair<std::string, std::string>{}).first, r.code)
          << r.node << " " << r.user << " " << r.e.source << " " << r.e.detail_type;
  }
}

TEST_F(access_fixture, a_declared_detail_type_comes_only_from_the_nodes_declaring_it) {
  EXPECT_TRUE(down.may_originate("up", "B"));  // a emits B
  EXPECT_TRUE(down.may_originate("up", "A"));  // producers put A to up
  EXPECT_TRUE(down.may_originate("down", "B"));
  EXPECT_FALSE(down.may_originate("down", "A"));
  EXPECT_FALSE(down.may_originate("dead", "B"));
  EXPECT_TRUE(down.may_originate("dead", cluster::redrive_type));
  EXPECT_FALSE(down.may_originate("up", cluster::redrive_type));
  for (const char* n : {"up", "down", "dead"})
    EXPECT_TRUE(down.may_originate(n, cluster::dead_letter_type)) << n;
  EXPECT_FALSE(down.may_originate("stranger", "B"));
  EXPECT_TRUE(down.may_originate("dead", "Undeclared"));  // nobody's: anyone's
  EXPECT_FALSE(down.may_originate("stranger", "Undeclared"));
}

TEST_F(access_fixture, the_config_narrows_what_a_node_originates_but_never_widens_it) {
  auto narrowed = cfg;
  for (auto& n : narrowed.nodes)
    if (n.name == "up")
      n.emits = std::vector<std::string>{"B", "C"};
  authorization a(narrowed, "down", &test::keyed_registry());
  EXPECT_TRUE(a.may_originate("up", "B"));
  EXPECT_FALSE(a.may_originate("up", "A"));          // narrowed away
  EXPECT_TRUE(a.may_originate("up", "C"));           // nobody's
  EXPECT_FALSE(a.may_originate("up", "Undeclared"));  // nobody's, but narrowed away
  EXPECT_FALSE(a.may_originate("dead", "B"));         // still up's and down's
  EXPECT_TRUE(a.may_originate("up", cluster::dead_letter_type));
}

TEST_F(access_fixture, an_ack_or_replay_request_must_name_the_node_that_sent_it) {
  EXPECT_TRUE(down.is_node(down.who("up"), "up"));
  EXPECT_FALSE(down.is_node(down.who("dead"), "up"));
  EXPECT_FALSE(down.is_node(down.who("ops"), "ops"));
}

TEST_F(access_fixture, the_zap_policy_admits_nodes_on_both_sockets_and_clients_on_control_only) {
  const auto z = authorization::zap_policy_of(cfg);
  std::string raw(32, '\0');
  const auto ask = [&](const char* domain, const std::string& key) {
    zmq_z85_decode(reinterpret_cast<std::uint8_t*>(raw.data()), key.c_str());
    return z.decide({"1.0", "1", domain, "", "", "CURVE", {raw}}).user_id;
  };
  EXPECT_EQ(ask(wire::pub_domain, cfg.find_node("up")->public_key), "up");
  EXPECT_EQ(ask(wire::control_domain, cfg.find_node("up")->public_key), "up");
  EXPECT_EQ(ask(wire::control_domain, cfg.find_client("ops")->public_key), "ops");
  EXPECT_EQ(ask(wire::pub_domain, cfg.find_client("ops")->public_key), "");
}

TEST(open_cluster, everything_is_allowed_as_before_keys) {
  const auto cfg = test::small_cluster();
  authorization a(cfg, "down", nullptr);
  EXPECT_FALSE(a.secure());
  const auto p = a.who("");
  for (const char* verb : {"put", "query", "status", "ack", "replay"})
    EXPECT_FALSE(a.refuse(p, verb)) << verb;
  EXPECT_FALSE(a.refuse_entry(p, entry(cluster::dlq_command_source, "DeadLetterPurgeRequested")));
  EXPECT_TRUE(a.may_originate("up", "Anything"));
  EXPECT_TRUE(a.is_node(p, "up"));
}

} // namespace
} // namespace troupe::runtime
