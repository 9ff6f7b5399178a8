// The config's keys, clients and roles: a keyed config loads, and every
// way to get security wrong is refused before anything starts, with its
// position.
#include "cluster/access.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "cluster/config.hpp"
#include "tests/support/support.hpp"
#include "wire/security.hpp"

namespace troupe::cluster {
namespace {

bool any_service(const std::string&, const YAML::Node&, diagnostics&) { return true; }

std::string key() { return wire::make_key_pair()->public_key; }

/// Two nodes on `host` with `node_extra` under each (its own indentation
/// added), and `tail` after the nodes.
std::string config_text(const std::string& one_extra, const std::string& two_extra, const std::string& tail = "",
                        const std::string& host = "127.0.0.1") {
  return "cluster: c\nnodes:\n  one:\n    endpoints: {pub: \"tcp://" + host + ":5001\", control: \"tcp://" + host
         + ":5002\"}\n    services: [a]\n" + one_extra + "  two:\n    endpoints: {pub: \"tcp://127.0.0.1:5003\", "
         "control: \"tcp://127.0.0.1:5004\"}\n    services: [b]\n" + two_extra + tail
         + "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: b}\n";
}

std::string node_keys(const std::string& pub, const std::string& secret = "    secret-key-env: K\n") {
  return "    public-key: \"" + pub + "\"\n" + secret;
}

struct loaded {
  std::optional<config> cfg;
  std::string problems;
};

loaded load(const std::string& text) {
  diagnostics diag("c.yaml");
  auto cfg = load_text(text, "c.yaml", "/srv/troupe", any_service, diag);
  return {std::move(cfg), diag.to_string()};
}

TEST(access, a_keyed_config_loads_with_its_clients_roles_and_where_the_secrets_are) {
  const auto one = key(), two = key(), shop = key();
  auto r = load(config_text(node_keys(one, "    secret-key-file: keys/one.key\n"), node_keys(two),
                            "clients:\n  shop: {public-key: \"" + shop
                                + "\", secret-key-file: /k/shop.key, roles: [producer, reader], sources: [web]}\n"));
  ASSERT_TRUE(r.cfg) << r.problems;
  EXPECT_TRUE(r.cfg->secure());
  EXPECT_EQ(r.cfg->nodes[0].public_key, one);
  EXPECT_EQ(r.cfg->nodes[0].secret.file, "/srv/troupe/keys/one.key");
  EXPECT_EQ(r.cfg->nodes[1].secret.env, "K");
  const auto* c = r.cfg->find_client("shop");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->has(producer));
  EXPECT_TRUE(c->has(reader));
  EXPECT_FALSE(c->has(operator_));
  EXPECT_EQ(c->sources, std::vector<std::string>{"web"});
  EXPECT_EQ(c->secret.file, "/k/shop.key");
  EXPECT_FALSE(open_cluster_warning(*r.cfg));
}

TEST(access, an_open_cluster_loads_on_loopback_and_says_it_is_open) {
  auto r = load(config_text("", ""));
  ASSERT_TRUE(r.cfg) << r.problems;
  EXPECT_FALSE(r.cfg->secure());
  auto w = open_cluster_warning(*r.cfg);
  ASSERT_TRUE(w);
  EXPECT_NE(w->find("OPEN"), std::string::npos);
}

TEST(access, each_mistake_is_refused_at_its_position) {
  const auto one = key(), two = key();
  struct row {
    const char* name;
    std::string text;
    const char* problem;
    long lines = 1;
  };
  const row rows[] = {
      {"open on every address", config_text("", "", "", "0.0.0.0"),
       "c.yaml:4:22: nodes.one.endpoints.pub: 'tcp://0.0.0.0:5001' is reachable from other machines", 2},
      {"open on a real address", config_text("", "", "", "198.18.0.1"), "nodes.one.endpoints.control: ", 2},
      {"open on a name that looks like loopback", config_text("", "", "", "127.0.0.1.example.com"),
       "is reachable from other machines", 2},
      {"one node keyed, one not", config_text(node_keys(one), ""), "c.yaml:9:5: nodes.two: every node needs a"},
      {"a secret in the config", config_text(node_keys(one, "    secret-key: \"" + one + "\"\n"), node_keys(two)),
       "c.yaml:7:17: nodes.one.secret-key: a secret key is never written in the config", 2},
      {"file and variable", config_text(node_keys(one, "    secret-key-file: a\n    secret-key-env: B\n"), node_keys(two)),
       "give 'secret-key-file' or 'secret-key-env', not both"},
      {"no secret", config_text(node_keys(one, ""), node_keys(two)), "nodes.one: a node with a public key needs"},
      {"not a key", config_text(node_keys("short"), node_keys(two)), "c.yaml:6:17: nodes.one.public-key: not a CURVE"},
      {"two nodes, one key", config_text(node_keys(one), node_keys(one)), "nodes.two: the same public key as nodes.one"},
      {"a client with a node's key",
       config_text(node_keys(one), node_keys(two), "clients:\n  c1: {public-key: \"" + one + "\", roles: [reader]}\n"),
       "clients.c1: the same public key as nodes.one"},
      {"a client named as a node",
       config_text(node_keys(one), node_keys(two), "clients:\n  two: {public-key: \"" + key() + "\", roles: [reader]}\n"),
       "clients.two: a node has this name"},
      {"an unknown role",
       config_text(node_keys(one), node_keys(two), "clients:\n  c1: {public-key: \"" + key() + "\", roles: [admin]}\n"),
       "clients.c1.roles: 'admin' is not a role (producer, reader, operator)"},
      {"no roles", config_text(node_keys(one), node_keys(two), "clients:\n  c1: {public-key: \"" + key() + "\"}\n"),
       "clients.c1: missing 'roles'"},
      {"sources for a reader",
       config_text(node_keys(one), node_keys(two),
                   "clients:\n  c1: {public-key: \"" + key() + "\", roles: [reader], sources: [x]}\n"),
       "clients.c1.sources: only a producer puts events"},
      {"clients of an open cluster",
       config_text("", "", "clients:\n  c1: {public-key: \"" + key() + "\", roles: [reader]}\n"),
       "clients: the nodes have no keys"},
      {"a missing public key file", config_text("    public-key-file: keys/one.pub\n    secret-key-env: K\n", node_keys(two)),
       "nodes.one.public-key-file: cannot read /srv/troupe/keys/one.pub (make the missing keys with `troupe keygen"},
  };
  for (const auto& r : rows) {
    auto l = load(r.text);
    EXPECT_FALSE(l.cfg) << r.name;
    // One mistake, one problem, but where one is two (both endpoints, or
    // a secret in the config and none where it belongs).
    EXPECT_EQ(std::count(l.problems.begin(), l.problems.end(), '\n'), r.lines) << r.name << ":\n" << l.problems;
    EXPECT_NE(l.problems.find(r.problem), std::string::npos) << r.name << ":\n" << l.problems << "\n" << r.text;
  }
}

TEST(access, a_public_key_file_is_read_relative_to_the_config) {
  test::temp_dir dir;
  ASSERT_TRUE(wire::write_key_pair(dir.path(), "one", *wire::make_key_pair()));
  std::string pub;
  std::getline(std::ifstream(dir.path() / "one.pub"), pub);
  diagnostics diag("c.yaml");
  auto cfg = load_text(config_text("    public-key-file: one.pub\n    secret-key-file: one.key\n", node_keys(key())),
                       "c.yaml", dir.path(), any_service, diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  EXPECT_EQ(cfg->nodes[0].public_key, pub);
  auto secret = secret_key(cfg->nodes[0].secret);
  ASSERT_TRUE(secret) << secret.err().to_string();
  EXPECT_EQ(*wire::public_of(*secret), pub);
}

TEST(access, a_secret_key_comes_from_its_variable_or_its_private_file_only) {
  ::unsetenv("TROUPE_TEST_KEY");
  EXPECT_FALSE(secret_key({{}, "TROUPE_TEST_KEY"}));
  ::setenv("TROUPE_TEST_KEY", "not a key", 1);
  EXPECT_FALSE(secret_key({{}, "TROUPE_TEST_KEY"}));
  const auto k = *wire::make_key_pair();
  ::setenv("TROUPE_TEST_KEY", k.secret_key.c_str(), 1);
  auto from_env = secret_key({{}, "TROUPE_TEST_KEY"});
  ASSERT_TRUE(from_env);
  EXPECT_EQ(*from_env, k.secret_key);
  // A key file's content, line end and all (a Kubernetes Secret made --from-file).
  ::setenv("TROUPE_TEST_KEY", (k.secret_key + "\n").c_str(), 1);
  auto with_newline = secret_key({{}, "TROUPE_TEST_KEY"});
  ASSERT_TRUE(with_newline) << with_newline.err().to_string();
  EXPECT_EQ(*with_newline, k.secret_key);
  ::setenv("TROUPE_TEST_KEY", ("\n" + k.secret_key).c_str(), 1);
  EXPECT_FALSE(secret_key({{}, "TROUPE_TEST_KEY"}));
  ::unsetenv("TROUPE_TEST_KEY");

  test::temp_dir dir;
  ASSERT_TRUE(wire::write_key_pair(dir.path(), "n", k));
  EXPECT_TRUE(secret_key({dir.path() / "n.key", {}}));
  ::chmod((dir.path() / "n.key").c_str(), 0644);
  auto open = secret_key({dir.path() / "n.key", {}});
  ASSERT_FALSE(open);
  EXPECT_NE(open.err().message.find("may be read by others"), std::string::npos);
  EXPECT_FALSE(secret_key({}));
}

} // namespace
} // namespace troupe::cluster
