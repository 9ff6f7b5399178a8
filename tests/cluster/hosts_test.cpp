// The config's `hosts:` section: where each node binds and where its peers
// dial it, and every mistake refused with its position.
#include "cluster/hosts.hpp"

#include <gtest/gtest.h>

#include "cluster/config.hpp"
#include "wire/security.hpp"

namespace troupe::cluster {
namespace {

bool any_service(const std::string&, const YAML::Node&, diagnostics&) { return true; }

std::string keys() {
  auto k = wire::make_key_pair();
  return "    public-key: \"" + k->public_key + "\"\n    secret-key-env: K\n";
}

/// Three nodes: one and two on alpha, three on beta; `hosts` and the nodes'
/// placement as given.
std::string text(const std::string& hosts, const std::string& one = "    host: alpha\n    ports: {pub: 7001, control: 7002}\n",
                 const std::string& two = "    host: alpha\n    ports: {pub: 7011, control: 7012}\n",
                 const std::string& three = "    host: beta\n    ports: {pub: 7001, control: 7002}\n",
                 bool keyed = true) {
  return "cluster: c\ndata-dir: /tmp\n" + hosts + "nodes:\n  one:\n" + one + "    services: [a]\n" + (keyed ? keys() : "")
         + "  two:\n" + two + "    services: [b]\n" + (keyed ? keys() : "") + "  three:\n" + three
         + "    services: [c]\n" + (keyed ? keys() : "") + "rules: []\n";
}

const std::string three_hosts = "hosts:\n  alpha: {address: 198.18.0.1}\n  beta: {address: beta.svc.example}\n"
                                "  gamma: {address: \"fd00::3\", bind: \"*\"}\n";

struct loaded {
  std::optional<config> cfg;
  std::string problems;
};

loaded load(const std::string& t) {
  diagnostics diag("h.yaml");
  auto cfg = load_text(t, "h.yaml", "/srv", any_service, diag);
  return {std::move(cfg), diag.to_string()};
}

TEST(hosts, a_node_binds_its_hosts_address_and_peers_dial_the_address_or_name) {
  auto r = load(text(three_hosts, "    host: alpha\n    ports: {pub: 7001, control: 7002}\n",
                     "    host: gamma\n    ports: {pub: 7011, control: 7012}\n"));
  ASSERT_TRUE(r.cfg) << r.problems;
  const auto& c = *r.cfg;
  ASSERT_EQ(c.hosts.size(), 3u);
  const auto* one = c.find_node("one");
  EXPECT_EQ(one->host, "alpha");
  EXPECT_EQ(one->pub, "tcp://198.18.0.1:7001");
  EXPECT_EQ(one->pub_bind, "tcp://198.18.0.1:7001");
  EXPECT_EQ(one->control, "tcp://198.18.0.1:7002");
  // An IPv6 host that binds every address.
  const auto* two = c.find_node("two");
  EXPECT_EQ(two->pub, "tcp://[fd00::3]:7011");
  EXPECT_EQ(two->pub_bind, "tcp://*:7011");
  // A DNS name cannot be bound: its node binds every address.
  const auto* three = c.find_node("three");
  EXPECT_EQ(three->control, "tcp://beta.svc.example:7002");
  EXPECT_EQ(three->control_bind, "tcp://*:7002");
  EXPECT_TRUE(c.find_host("beta")->dns_name);
  EXPECT_EQ(c.nodes_on("alpha").size(), 1u);
  EXPECT_EQ(c.host_names(), (std::vector<std::string>{"alpha", "gamma", "beta"}));
}

TEST(hosts, one_port_on_two_hosts_is_fine_and_on_one_host_is_refused) {
  auto fine = load(text(three_hosts));  // one and three both use 7001, on alpha and on beta
  EXPECT_TRUE(fine.cfg) << fine.problems;
  auto twice = load(text(three_hosts, "    host: alpha\n    ports: {pub: 7001, control: 7002}\n",
                         "    host: alpha\n    ports: {pub: 7003, control: 7001}\n"));
  EXPECT_FALSE(twice.cfg);
  EXPECT_NE(twice.problems.find("h.yaml:16:33: nodes.two.ports.control: 'tcp://198.18.0.1:7001' is already used by "
                                "nodes.one.ports.pub on host alpha"),
            std::string::npos)
      << twice.problems;
}

TEST(hosts, every_mistake_is_named_where_it_is) {
  struct bad {
    const char* name;
    std::string text;
    std::string expected;
  };
  const std::vector<bad> cases = {
      {"an unknown host", text(three_hosts, "    host: delta\n    ports: {pub: 7001, control: 7002}\n"),
       "h.yaml:9:11: nodes.one.host: unknown host 'delta' (the config's hosts: alpha, beta, gamma)"},
      {"a node without a host", text(three_hosts, "    ports: {pub: 7001, control: 7002}\n"),
       "h.yaml:9:5: nodes.one: missing 'host' (the config's hosts: alpha, beta, gamma)"},
      {"ports and endpoints",
       text(three_hosts, "    host: alpha\n    ports: {pub: 7001, control: 7002}\n    endpoints: {pub: \"tcp://127.0.0.1:1\", "
                         "control: \"tcp://127.0.0.1:2\"}\n"),
       "nodes.one: give 'endpoints' or 'ports', not both"},
      {"ports without hosts", text("", "    ports: {pub: 7001, control: 7002}\n",
                                   "    endpoints: {pub: \"tcp://127.0.0.1:1\", control: \"tcp://127.0.0.1:2\"}\n",
                                   "    endpoints: {pub: \"tcp://127.0.0.1:3\", control: \"tcp://127.0.0.1:4\"}\n"),
       "h.yaml:5:12: nodes.one.ports: ports need the node's host and its address in 'hosts'"},
      {"a port out of range", text(three_hosts, "    host: alpha\n    ports: {pub: 70000, control: 7002}\n"),
       "nodes.one.ports.pub: must be an integer from 1 to 65535"},
      {"a missing port", text(three_hosts, "    host: alpha\n    ports: {pub: 7005}\n"),
       "nodes.one.ports: missing 'control'"},
      {"an address that is neither", text("hosts:\n  alpha: {address: \"not an address!\"}\n  beta: 198.18.0.2\n"),
       "h.yaml:4:20: hosts.alpha.address: 'not an address!' is neither an IP address nor a DNS name"},
      {"a mistyped address", text("hosts:\n  alpha: 198.18.0\n  beta: 198.18.0.2\n"),
       "hosts.alpha.address: '198.18.0' is neither an IP address nor a DNS name"},
      {"the unspecified address", text("hosts:\n  alpha: 0.0.0.0\n  beta: 198.18.0.2\n"),
       "hosts.alpha.address: '0.0.0.0' is no address a peer can dial; to bind every address, say `bind: \"*\"`"},
      {"a name to bind", text("hosts:\n  alpha: {address: 198.18.0.1, bind: eth0}\n  beta: 198.18.0.2\n"),
       "h.yaml:4:38: hosts.alpha.bind: must be an IP address of the host, or \"*\""},
      {"two hosts, one address", text("hosts:\n  alpha: 198.18.0.2\n  beta: 198.18.0.2\n"),
       "h.yaml:5:9: hosts.beta.address: another host has the address '198.18.0.2'"},
      {"an unknown key", text("hosts:\n  alpha: {address: 198.18.0.1, port: 1}\n  beta: 198.18.0.2\n"),
       "hosts.alpha: unknown key 'port' (expected one of: address, bind)"},
      {"not a map", text("hosts: [alpha]\n"), "h.yaml:3:8: hosts: must be a map from host name to its address"},
      {"an open cluster across hosts",
       text("hosts:\n  alpha: 127.0.0.1\n  beta: beta.svc.example\n", "    host: alpha\n    ports: {pub: 7001, control: 7002}\n",
            "    host: alpha\n    ports: {pub: 7011, control: 7012}\n", "    host: beta\n    ports: {pub: 7001, control: 7002}\n",
            false),
       "nodes.three.ports.pub: 'tcp://*:7001' is reachable from other machines, and the cluster has no keys"},
  };
  for (const auto& c : cases) {
    auto r = load(c.text);
    EXPECT_FALSE(r.cfg) << c.name;
    EXPECT_NE(r.problems.find(c.expected), std::string::npos) << c.name << ":\n" << r.problems;
  }
}

TEST(hosts, an_open_cluster_on_loopback_hosts_loads) {
  auto r = load(text("hosts:\n  alpha: 127.0.0.1\n  beta: 127.0.0.2\n", "    host: alpha\n    ports: {pub: 7001, control: 7002}\n",
                     "    host: alpha\n    ports: {pub: 7011, control: 7012}\n",
                     "    host: beta\n    ports: {pub: 7001, control: 7002}\n", false));
  ASSERT_TRUE(r.cfg) << r.problems;
  EXPECT_EQ(r.cfg->find_node("three")->pub_bind, "tcp://127.0.0.2:7001");
}

TEST(hosts, a_name_that_does_not_resolve_is_a_warning_with_its_place) {
  auto r = load(text("hosts:\n  alpha: localhost\n  beta: {address: nowhere.invalid}\n"));
  ASSERT_TRUE(r.cfg) << r.problems;
  const auto warnings = unresolved_hosts(r.cfg->hosts, "h.yaml");
  ASSERT_EQ(warnings.size(), 1u);  // localhost resolves; .invalid never does (RFC 2606)
  EXPECT_EQ(warnings[0].rfind("h.yaml:5:19: warning: hosts.beta.address: 'nowhere.invalid' does not resolve here (", 0),
            0u)
      << warnings[0];
}

TEST(hosts, an_endpoint_named_by_name_binds_an_address_libzmq_can_bind) {
  auto r = load(text("", "    endpoints: {pub: \"tcp://LocalHost.:7001\", control: \"tcp://127.0.0.1:7002\"}\n",
                     "    endpoints: {pub: \"tcp://node-two.example:7011\", control: \"tcp://[::1]:7012\"}\n",
                     "    endpoints: {pub: \"ipc:///tmp/three\", control: \"tcp://127.1:7022\"}\n"));
  ASSERT_TRUE(r.cfg) << r.problems;
  const auto& c = *r.cfg;
  EXPECT_EQ(c.find_node("one")->pub, "tcp://LocalHost.:7001");  // peers dial it as written
  EXPECT_EQ(c.find_node("one")->pub_bind, "tcp://127.0.0.1:7001");
  EXPECT_EQ(c.find_node("one")->control_bind, "tcp://127.0.0.1:7002");
  EXPECT_EQ(c.find_node("two")->pub_bind, "tcp://*:7011");
  EXPECT_EQ(c.find_node("two")->control_bind, "tcp://[::1]:7012");
  EXPECT_EQ(c.find_node("three")->pub_bind, "ipc:///tmp/three");
  EXPECT_EQ(c.find_node("three")->control_bind, "tcp://127.1:7022");
}

TEST(hosts, tcp_endpoints_bracket_ipv6) {
  EXPECT_EQ(tcp_endpoint("198.18.0.1", 5), "tcp://198.18.0.1:5");
  EXPECT_EQ(tcp_endpoint("::1", 5), "tcp://[::1]:5");
  EXPECT_EQ(tcp_endpoint("a.example", 65535), "tcp://a.example:65535");
}

} // namespace
} // namespace troupe::cluster
