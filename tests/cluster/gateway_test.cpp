// The config's `gateway:` section: a good one loads with every field, and
// each mistake is refused with its position before anything starts.
#include "cluster/gateway.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "cluster/config.hpp"
#include "tests/support/support.hpp"
#include "wire/security.hpp"

namespace troupe::cluster {
namespace {

bool any_service(const std::string&, const YAML::Node&, diagnostics&) { return true; }

/// Two open nodes on loopback, `extra` at the top level, and a rule.
std::string open_config(const std::string& gateway) {
  return "cluster: c\nnodes:\n  one:\n    endpoints: {pub: \"tcp://127.0.0.1:5001\", control: \"tcp://127.0.0.1:5002\"}\n"
         "    services: [a]\n  two:\n    endpoints: {pub: \"tcp://127.0.0.1:5003\", control: \"tcp://127.0.0.1:5004\"}\n"
         "    services: [b]\n" + gateway + "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: b}\n";
}

/// The same, keyed, with a client `shop` (producer of `web`) and `ops` (reader).
std::string keyed_config(const std::string& gateway) {
  const auto k = [] { return "\"" + wire::make_key_pair()->public_key + "\""; };
  return "cluster: c\nnodes:\n  one:\n    endpoints: {pub: \"tcp://127.0.0.1:5001\", control: \"tcp://127.0.0.1:5002\"}\n"
         "    services: [a]\n    public-key: " + k() + "\n    secret-key-env: K1\n"
         "  two:\n    endpoints: {pub: \"tcp://127.0.0.1:5003\", control: \"tcp://127.0.0.1:5004\"}\n"
         "    services: [b]\n    public-key: " + k() + "\n    secret-key-env: K2\n"
         "clients:\n  shop: {public-key: " + k() + ", roles: [producer], sources: [web]}\n"
         "  ops: {public-key: " + k() + ", roles: [reader, operator]}\n" + gateway +
         "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: b}\n";
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

TEST(gateway_config, a_full_section_loads) {
  auto r = load(keyed_config("gateway:\n  listen: 127.0.0.1:9100\n  ingress: one\n  client: shop\n"
                             "  region: eu-west-1\n  account: \"123456789012\"\n  access-keys:\n"
                             "    AKIAWEBSHOP000000001:\n      secret-key-file: keys/web.aws\n"
                             "      roles: [producer, reader]\n      sources: [web]\n"
                             "    AKIAREADER0000000001: {secret-key-env: READER_SECRET, roles: [reader]}\n"));
  ASSERT_TRUE(r.cfg) << r.problems;
  ASSERT_TRUE(r.cfg->gateway);
  const auto& g = *r.cfg->gateway;
  EXPECT_EQ(g.listen, "127.0.0.1:9100");
  EXPECT_EQ(g.ingress, "one");
  EXPECT_EQ(g.client, "shop");
  EXPECT_EQ(g.region, "eu-west-1");
  EXPECT_EQ(g.account, "123456789012");
  ASSERT_EQ(g.access_keys.size(), 2u);
  const auto* web = g.find_key("AKIAWEBSHOP000000001");
  ASSERT_TRUE(web);
  EXPECT_EQ(web->secret.file, "/srv/troupe/keys/web.aws");
  EXPECT_TRUE(web->has(producer) && web->has(reader) && !web->has(operator_));
  EXPECT_EQ(web->sources, std::vector<std::string>{"web"});
  EXPECT_EQ(g.find_key("AKIAREADER0000000001")->secret.env, "READER_SECRET");
  EXPECT_FALSE(g.find_key("AKIANOSUCHKEY0000001"));
  EXPECT_EQ(rule_arn(g, "c", "r"), "arn:aws:events:eu-west-1:123456789012:rule/c/r");
  EXPECT_EQ(bus_arn(g, "c"), "arn:aws:events:eu-west-1:123456789012:event-bus/c");
}

TEST(gateway_config, defaults_and_an_unsigned_loopback_gateway) {
  auto r = load(open_config("gateway: {ingress: one, unsigned: true}\n"));
  ASSERT_TRUE(r.cfg) << r.problems;
  EXPECT_EQ(r.cfg->gateway->listen, "127.0.0.1:8088");
  EXPECT_EQ(r.cfg->gateway->region, "us-east-1");
  EXPECT_EQ(r.cfg->gateway->account, "000000000000");
  EXPECT_TRUE(r.cfg->gateway->allow_unsigned);
  EXPECT_FALSE(load(open_config("")).cfg->gateway);
}

TEST(gateway_config, every_mistake_is_refused_at_its_position) {
  const std::string key = "  access-keys: {AKIAWEBSHOP000000001: {secret-key-env: S, roles: [producer]}}\n";
  struct bad {
    std::string text, expect;
  };
  const std::vector<bad> cases = {
      {open_config("gateway: [one]\n"), "c.yaml:9:10: gateway: must be a map"},
      {open_config("gateway:\n  ingress: one\n  lisen: 127.0.0.1:1\n" + key), "c.yaml:11:3: gateway: unknown key 'lisen'"},
      {open_config("gateway:\n" + key), "c.yaml:10:3: gateway: missing 'ingress'"},
      {open_config("gateway:\n  ingress: three\n" + key), "c.yaml:10:12: gateway.ingress: no node is named 'three'"},
      {open_config("gateway:\n  ingress: one\n  listen: localhost:80\n" + key),
       "c.yaml:11:11: gateway.listen: 'localhost:80' is not ADDRESS:PORT"},
      {open_config("gateway:\n  ingress: one\n  listen: 127.0.0.1:70000\n" + key), "c.yaml:11:11: gateway.listen"},
      {open_config("gateway:\n  ingress: one\n  region: US_EAST\n" + key), "c.yaml:11:11: gateway.region"},
      {open_config("gateway:\n  ingress: one\n  account: 12345\n" + key), "c.yaml:11:12: gateway.account: an account id is 12 digits"},
      {open_config("gateway:\n  ingress: one\n  unsigned: yes\n" + key), "c.yaml:11:13: gateway.unsigned: must be true or false"},
      {open_config("gateway:\n  ingress: one\n  listen: 0.0.0.0:8088\n  unsigned: true\n"),
       "c.yaml:12:13: gateway.unsigned: requests without a signature are taken only on loopback"},
      {open_config("gateway:\n  ingress: one\n"), "c.yaml:10:3: gateway: no 'access-keys'"},
      {open_config("gateway:\n  ingress: one\n  access-keys: {AKIA: {secret-key-env: S, roles: [producer]}}\n"),
       "c.yaml:11:17: gateway.access-keys.AKIA: an access key id is 16 to 128"},
      {open_config("gateway:\n  ingress: one\n  access-keys: {AKIAWEBSHOP000000001: {roles: [producer]}}\n"),
       "gateway.access-keys.AKIAWEBSHOP000000001: missing 'secret-key-file'"},
      {open_config("gateway:\n  ingress: one\n  access-keys: {AKIAWEBSHOP000000001: {secret-key: abc, roles: [producer]}}\n"),
       "a secret key is never written in the config"},
      {open_config("gateway:\n  ingress: one\n  access-keys: {AKIAWEBSHOP000000001: {secret-key-env: S}}\n"),
       "gateway.access-keys.AKIAWEBSHOP000000001: missing 'roles'"},
      {open_config("gateway:\n  ingress: one\n  access-keys: {AKIAWEBSHOP000000001: {secret-key-env: S, roles: [admin]}}\n"),
       "'admin' is not a role"},
      {open_config("gateway:\n  ingress: one\n  access-keys: {AKIAWEBSHOP000000001: {secret-key-env: S, roles: [reader], "
                   "sources: [web]}}\n"),
       "sources: only a producer puts events"},
      {open_config("gateway:\n  ingress: one\n  client: shop\n" + key), "gateway.client: the cluster has no keys"},
      {keyed_config("gateway:\n  ingress: one\n" + key), "gateway: missing 'client'"},
      {keyed_config("gateway:\n  ingress: one\n  client: nobody\n" + key), "gateway.client: no client is named 'nobody'"},
      {keyed_config("gateway:\n  ingress: one\n  client: ops\n" + key), "gateway.client: 'ops' is not a producer"},
      {keyed_config("gateway:\n  ingress: one\n  client: shop\n  access-keys: {AKIAWEBSHOP000000001: {secret-key-env: S, "
                    "roles: [producer, operator], sources: [web]}}\n"),
       "roles: 'operator', which the gateway's client 'shop' does not have"},
      {keyed_config("gateway:\n  ingress: one\n  client: shop\n" + key),
       "may put source (any source), which the gateway's client 'shop' may not (its sources: web)"},
      {keyed_config("gateway:\n  ingress: one\n  client: shop\n  access-keys: {AKIAWEBSHOP000000001: {secret-key-env: S, "
                    "roles: [producer], sources: [web, app]}}\n"),
       "may put source app, which the gateway's client 'shop' may not"},
  };
  for (const auto& c : cases) {
    auto r = load(c.text);
    EXPECT_FALSE(r.cfg) << c.expect;
    EXPECT_NE(r.problems.find(c.expect), std::string::npos) << "want: " << c.expect << "\ngot: " << r.problems;
  }
}

TEST(gateway_config, listen_addresses) {
  EXPECT_TRUE(parse_listen("127.0.0.1:8088")->loopback);
  EXPECT_TRUE(parse_listen("127.8.9.1:1")->loopback);
  EXPECT_TRUE(parse_listen("[::1]:8088")->loopback);
  EXPECT_FALSE(parse_listen("0.0.0.0:8088")->loopback);
  EXPECT_FALSE(parse_listen("[::]:8088")->loopback);
  EXPECT_EQ(parse_listen("198.18.0.1:65535")->port, 65535);
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:0", "127.0.0.1:65536", "localhost:80",
                          "::1:80", "127.0.0.1:8o", "[::1]", "127.0.0.1:0000080"})
    EXPECT_FALSE(parse_listen(bad)) << bad;
}

TEST(gateway_config, secret_access_keys_are_read_from_a_private_file_or_the_environment) {
  test::temp_dir tmp;
  const auto& dir = tmp.path();
  const auto file = dir / "web.aws";
  std::ofstream(file) << "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n";
  ::chmod(file.c_str(), 0600);
  secret_key_source src;
  src.file = file;
  auto s = secret_access_key(src);
  ASSERT_TRUE(s) << s.err().to_string();
  EXPECT_EQ(*s, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  ::chmod(file.c_str(), 0644);
  auto open = secret_access_key(src);
  ASSERT_FALSE(open);
  EXPECT_NE(open.err().message.find("may be read by others"), std::string::npos);
  std::ofstream(dir / "short.aws") << "short\n";
  ::chmod((dir / "short.aws").c_str(), 0600);
  src.file = dir / "short.aws";
  EXPECT_FALSE(secret_access_key(src));
  secret_key_source env;
  env.env = "TROUPE_TEST_GATEWAY_SECRET";
  ::unsetenv(env.env.c_str());
  EXPECT_FALSE(secret_access_key(env));
  ::setenv(env.env.c_str(), "0123456789abcdef0123\n", 1);
  EXPECT_EQ(*secret_access_key(env), "0123456789abcdef0123");
}

}  // namespace
}  // namespace troupe::cluster
