// The live page's graph and rates (launcher/dashboard_graph.hpp), without
// a cluster: a config from text, a registry of traits, status answers as
// JSON.
#include <gtest/gtest.h>

#include "launcher/dashboard.hpp"
#include "launcher/dashboard_graph.hpp"

namespace troupe::cli {
namespace {

using json = nlohmann::json;

const char* const config_text = R"(
cluster: shop
nodes:
  front:
    endpoints: {pub: "tcp://127.0.0.1:5001", control: "tcp://127.0.0.1:5002"}
    services: [orders, stock]
  back:
    endpoints: {pub: "tcp://127.0.0.1:5011", control: "tcp://127.0.0.1:5012"}
    services: [billing, mail]
  letters:
    endpoints: {pub: "tcp://127.0.0.1:5021", control: "tcp://127.0.0.1:5022"}
    services: [dlq]
rules:
  - name: new-orders
    pattern: {"detail-type": ["OrderPlaced"]}
    target: orders
    dead-letter-queue: dlq
  - name: bill
    pattern: {"detail-type": ["OrderAccepted"]}
    target: billing
    dead-letter-queue: dlq
  - name: outcomes
    pattern: {"detail-type": ["Billed", "StockShort"]}
    target: orders
    dead-letter-queue: dlq
  - name: everything-mailed
    pattern: {"source": ["x"]}
    target: mail
)";

service_registry traits() {
  service_registry r;
  const auto none = [](const YAML::Node&, const service_context&, cluster::diagnostics&) {
    return std::unique_ptr<service>();
  };
  r.add("orders", none, {{"OrderAccepted"}, {"OrderPlaced"}});
  r.add("billing", none, {{"Billed"}, {}});
  r.add("stock", none, {{"StockShort"}, {}});
  r.add("mail", none, {{}, {}});
  r.add("dlq", none, {{}, {}});
  return r;
}

cluster::config load() {
  cluster::diagnostics diag("shop.yaml");
  auto cfg = cluster::load_text(config_text, "shop.yaml", "/srv",
                                [](const std::string&, const YAML::Node&, cluster::diagnostics&) { return true; },
                                diag);
  EXPECT_TRUE(cfg) << diag.to_string();  // and an empty config, which has no edges
  return cfg ? *cfg : cluster::config{};
}

std::vector<std::string> described(const std::vector<graph_edge>& edges) {
  std::vector<std::string> out;
  for (const auto& e : edges)
    out.push_back(e.from + " -" + (e.dead_letters ? std::string("dead letters") : e.rule) + "-> " + e.to);
  return out;
}

TEST(dashboard_graph, edges_run_from_the_services_that_emit_what_a_rule_names_to_its_target) {
  const auto cfg = load();
  const auto reg = traits();
  EXPECT_EQ(described(saga_graph(cfg, reg)),
            (std::vector<std::string>{
                "PutEvents -new-orders-> orders",  // OrderPlaced: orders accepts it from producers
                "orders -bill-> billing",
                "billing -outcomes-> orders",
                "stock -outcomes-> orders",
                // No detail-type pinned: from the outside and every service that emits.
                "PutEvents -everything-mailed-> mail",
                "orders -everything-mailed-> mail",
                "stock -everything-mailed-> mail",
                "billing -everything-mailed-> mail",
                "orders -dead letters-> dlq",
                "billing -dead letters-> dlq",
            }));
}

json status_with(std::uint64_t invocations, std::uint64_t failed) {
  return {{"metrics",
           json::array({{{"rule", "bill"}, {"target", "billing"}, {"Invocations", invocations},
                         {"FailedInvocations", failed}, {"RetryInvocationAttempts", 0}, {"InvocationsSentToDlq", failed}}})}};
}

TEST(dashboard_graph, rates_are_over_the_window_per_node_and_survive_a_restart) {
  struct step {
    std::int64_t at_ms;
    std::map<std::string, json> statuses;
  };
  struct case_ {
    const char* name;
    std::vector<step> steps;
    double invocations, failed;
    std::uint64_t total;
  };
  const std::vector<case_> cases{
      {"one poll: no rate yet", {{0, {{"back", status_with(10, 0)}}}}, 0, 0, 10},
      {"two polls two seconds apart", {{0, {{"back", status_with(10, 0)}}}, {2000, {{"back", status_with(30, 2)}}}},
       10, 1, 30},
      {"a node that did not answer at the start counts nothing",
       {{0, {}}, {2000, {{"back", status_with(30, 0)}}}}, 0, 0, 30},
      {"a restarted node's counters count from zero",
       {{0, {{"back", status_with(100, 0)}}}, {2000, {{"back", status_with(8, 0)}}}}, 4, 0, 8},
      {"polls older than the window are dropped",
       {{0, {{"back", status_with(0, 0)}}},
        {2000, {{"back", status_with(100, 0)}}},
        {4000, {{"back", status_with(100, 0)}}},
        {6000, {{"back", status_with(100, 0)}}},
        {8000, {{"back", status_with(100, 0)}}},
        {10000, {{"back", status_with(112, 0)}}}},
       2, 0, 112},
  };
  for (const auto& c : cases) {
    rate_meter m(6000);
    for (const auto& s : c.steps)
      m.add(s.at_ms, s.statuses);
    const auto rates = m.current();
    const auto it = rates.find({"bill", "billing"});
    ASSERT_NE(it, rates.end()) << c.name;
    EXPECT_DOUBLE_EQ(it->second.invocations, c.invocations) << c.name;
    EXPECT_DOUBLE_EQ(it->second.failed, c.failed) << c.name;
    EXPECT_DOUBLE_EQ(it->second.to_dlq, c.failed) << c.name;
    EXPECT_EQ(it->second.totals.invocations, c.total) << c.name;
  }
}

TEST(dashboard_graph, operator_keys_compare_whole) {
  const std::string key = "0123456789abcdef";
  EXPECT_TRUE(same_key(key, key));
  EXPECT_FALSE(same_key("0123456789abcdeF", key));
  EXPECT_FALSE(same_key("0123456789abcde", key));
  EXPECT_FALSE(same_key(key + "0", key));
  EXPECT_FALSE(same_key("", key));
}

}  // namespace
}  // namespace troupe::cli
