#include "cluster/config.hpp"

#include <cstring>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "tests/support/support.hpp"
#include "wire/security.hpp"

namespace troupe::cluster {
namespace {

// Known services for these tests: "alpha" takes any settings, "beta"
// needs `size` to be an integer.
bool check(const std::string& name, const YAML::Node& settings, diagnostics& diag) {
  if (name == "alpha" || name == "dlq")
    return true;
  if (name == "beta") {
    if (!settings["size"] || !settings["size"].IsScalar())
      diag.add(settings, "services.beta: missing 'size'");
    return true;
  }
  return false;
}

const char* good = R"(cluster: demo
data-dir: state
nodes:
  one:
    endpoints: {pub: "tcp://127.0.0.1:5001", control: "tcp://127.0.0.1:5002"}
    services: [alpha]
  two:
    host: h2
    endpoints: {pub: "ipc:///tmp/two-pub", control: "tcp://[::1]:5004"}
    services: [beta]
services:
  beta: {size: 3}
rules:
  - name: r1
    pattern: {"detail-type": ["A", "B"], "detail": {"n": [{"numeric": [">", 3]}]}}
    target: alpha
  - name: r2
    pattern: '{"source": ["x"]}'
    target: beta
)";

std::optional<config> load(const std::string& text, diagnostics& diag) {
  return load_text(text, "test.yaml", "/etc/troupe", check, diag);
}

TEST(config, a_good_config_loads) {
  diagnostics diag("test.yaml");
  auto cfg = load(good, diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  EXPECT_EQ(cfg->cluster, "demo");
  EXPECT_EQ(cfg->data_dir, "/etc/troupe/state");
  ASSERT_EQ(cfg->nodes.size(), 2u);
  EXPECT_EQ(cfg->nodes[0].host, "local");
  EXPECT_EQ(cfg->nodes[1].host, "h2");
  EXPECT_EQ(cfg->nodes[1].data_dir, "/etc/troupe/state/two");
  EXPECT_EQ(cfg->node_hosting("beta")->name, "two");
  EXPECT_EQ(cfg->settings_of("beta")["size"].as<int>(), 3);
  EXPECT_TRUE(cfg->settings_of("alpha").IsNull());
  ASSERT_EQ(cfg->rules.size(), 2u);
  EXPECT_EQ(cfg->rules[0].pattern_json, R"({"detail-type":["A","B"],"detail":{"n":[{"numeric":[">",3]}]}})");
  EXPECT_EQ(cfg->rules[1].pattern_json, R"({"source": ["x"]})");
  EXPECT_EQ(cfg->rules[0].line, 14);
}

TEST(config, services_section_is_optional) {
  diagnostics diag2("test.yaml");
  auto minimal = load_text("cluster: c\nnodes:\n  one:\n    endpoints: {pub: \"tcp://127.0.0.1:1\", control: \"tcp://127.0.0.1:2\"}\n"
                           "    services: [alpha]\nrules: []\n",
                           "test.yaml", "/", check, diag2);
  ASSERT_TRUE(minimal) << diag2.to_string();
  EXPECT_TRUE(minimal->settings_of("alpha").IsNull());
}

struct bad_case {
  const char* name;
  std::string yaml;
  std::vector<std::string> expected;  // each a problem line, "line:col: reason" fragment
};

// Each case's config is refused, and every expected fragment is among the
// problems reported.
void expect_refused(const std::vector<bad_case>& cases) {
  for (const auto& c : cases) {
    diagnostics diag("test.yaml");
    EXPECT_FALSE(load(c.yaml, diag)) << c.name;
    const auto all = diag.to_string();
    for (const auto& want : c.expected)
      EXPECT_NE(all.find(want), std::string::npos) << c.name << ": wanted '" << want << "' in:\n" << all;
  }
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(config, every_problem_is_reported_with_its_position) {
  const std::vector<bad_case> cases = {
      {"yaml syntax", "cluster: [unclosed\n", {"test.yaml:2:1: "}},
      {"not a map", "- a\n- b\n", {"test.yaml:1:1: the config must be a map"}},
      {"unknown top-level key", replace(good, "data-dir: state", "data-dri: state"),
       {"test.yaml:2:1: config: unknown key 'data-dri'"}},
      {"bad endpoint", replace(good, "tcp://127.0.0.1:5001", "tcp://127.0.0.1:99999"),
       {"test.yaml:5:22: nodes.one.endpoints.pub: 'tcp://127.0.0.1:99999' is not tcp://HOST:PORT"}},
      {"endpoint used twice", replace(good, "tcp://127.0.0.1:5002", "tcp://127.0.0.1:5001"),
       {"test.yaml:5:55: nodes.one.endpoints.control: 'tcp://127.0.0.1:5001' is already used by nodes.one.endpoints.pub"}},
      {"unknown service", replace(good, "services: [alpha]", "services: [alpha, gamma]"),
       {"test.yaml:6:23: nodes.one.services: unknown service 'gamma'"}},
      {"service on two nodes", replace(good, "services: [beta]", "services: [beta, alpha]"),
       {"test.yaml:10:22: nodes.two.services: 'alpha' already runs on node 'one'"}},
      {"service settings invalid", replace(good, "beta: {size: 3}", "beta: {sise: 3}"),
       {"test.yaml:12:9: services.beta: missing 'size'"}},
      {"rule target unknown", replace(good, "target: alpha", "target: omega"),
       {"test.yaml:16:13: rules[0].target: no node runs a service named 'omega'"}},
      {"duplicate rule name", replace(good, "name: r2", "name: r1"),
       {"test.yaml:17:11: rules[1].name: another rule is already named 'r1'"}},
      {"bad node name", replace(good, "  two:", "  Two!:"), {"test.yaml:7:3: nodes.Two!: a node name is"}},
      {"missing endpoints", replace(good, "    endpoints: {pub: \"ipc:///tmp/two-pub\", control: \"tcp://[::1]:5004\"}\n", ""),
       {"test.yaml:8:5: nodes.two: 'endpoints' must be a map"}},
      {"missing rules", replace(good, "rules:", "rulez:"),
       {"config: unknown key 'rulez'", "config: missing 'rules'"}},
      {"invalid pattern names its path",
       replace(good, R"([{"numeric": [">", 3]}])", R"([{"numeric": [">", "three"]}])"),
       {"test.yaml:15:", "rules[0].pattern: detail.n"}},
      {"pattern leaf not an array", replace(good, R"("detail-type": ["A", "B"])", R"("detail-type": "A")"),
       {"test.yaml:15:", "rules[0].pattern: detail-type"}},
  };
  expect_refused(cases);
}

TEST(config, all_problems_are_collected_not_just_the_first) {
  auto yaml = replace(good, "tcp://127.0.0.1:5001", "udp://x");
  yaml = replace(yaml, "target: alpha", "target: nobody");
  yaml = replace(yaml, "services: [beta]", "services: [beta, zeta]");
  diagnostics diag("test.yaml");
  EXPECT_FALSE(load(yaml, diag));
  EXPECT_EQ(diag.problems().size(), 3u) << diag.to_string();
  for (const auto& p : diag.problems()) {
    EXPECT_GT(p.line, 0) << p.to_string();
    EXPECT_GT(p.column, 0) << p.to_string();
  }
}

TEST(config, unreadable_file_is_a_problem_not_a_crash) {
  diagnostics diag("/nonexistent/troupe.yaml");
  EXPECT_FALSE(cluster::load("/nonexistent/troupe.yaml", check, diag));
  ASSERT_EQ(diag.problems().size(), 1u);
  EXPECT_EQ(diag.problems()[0].to_string(), "/nonexistent/troupe.yaml:0:0: cannot read the config file");
}

// `good` has 19 lines, so a section appended to it starts on line 20.
TEST(config, supervision_defaults_when_absent) {
  diagnostics diag("test.yaml");
  auto cfg = load(good, diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  EXPECT_EQ(cfg->supervision.max_restarts, 5);
  EXPECT_EQ(cfg->supervision.within, std::chrono::seconds(30));
  EXPECT_EQ(cfg->supervision.backoff_base, std::chrono::milliseconds(100));
  EXPECT_EQ(cfg->supervision.backoff_cap, std::chrono::seconds(5));
}

TEST(config, supervision_settings_are_read) {
  using ms = std::chrono::milliseconds;
  struct good_case {
    const char* name;
    std::string section;
    int max_restarts;
    ms within, base, cap;
  };
  const std::vector<good_case> cases = {
      {"all four", "supervision: {max-restarts: 2, within: 30, backoff-base: 0.05, backoff-cap: 0.1}\n", 2,
       ms(30000), ms(50), ms(100)},
      {"partial keeps the other defaults", "supervision:\n  max-restarts: 0\n", 0, ms(30000), ms(100), ms(5000)},
      {"null section means defaults", "supervision:\n", 5, ms(30000), ms(100), ms(5000)},
      {"limits are inclusive", "supervision: {max-restarts: 1000, backoff-base: 300, backoff-cap: 300}\n", 1000,
       ms(30000), ms(300000), ms(300000)},
      {"base equal to cap", "supervision: {backoff-base: 2, backoff-cap: 2.0}\n", 5, ms(30000), ms(2000), ms(2000)},
      {"a tiny value rounds up, never to zero", "supervision: {within: 0.0001, backoff-base: 1e-6}\n", 5, ms(1), ms(1),
       ms(5000)},
      {"integers are numbers of seconds too", "supervision: {within: 1, backoff-cap: 7}\n", 5, ms(1000), ms(100),
       ms(7000)},
  };
  for (const auto& c : cases) {
    diagnostics diag("test.yaml");
    auto cfg = load(std::string(good) + c.section, diag);
    ASSERT_TRUE(cfg) << c.name << ": " << diag.to_string();
    EXPECT_EQ(cfg->supervision.max_restarts, c.max_restarts) << c.name;
    EXPECT_EQ(cfg->supervision.within, c.within) << c.name;
    EXPECT_EQ(cfg->supervision.backoff_base, c.base) << c.name;
    EXPECT_EQ(cfg->supervision.backoff_cap, c.cap) << c.name;
  }
}

TEST(config, bad_supervision_is_reported_with_its_position) {
  const std::vector<bad_case> cases = {
      {"not a map", std::string(good) + "supervision: [1, 2]\n",
       {"test.yaml:20:14: supervision: must be a map"}},
      {"unknown key", std::string(good) + "supervision:\n  max-restart: 3\n",
       {"test.yaml:21:3: supervision: unknown key 'max-restart' (expected one of: max-restarts, within, "
        "backoff-base, backoff-cap)"}},
      {"max-restarts negative", std::string(good) + "supervision:\n  max-restarts: -1\n",
       {"test.yaml:21:17: supervision.max-restarts: must be an integer from 0 to 1000"}},
      {"max-restarts too big", std::string(good) + "supervision:\n  max-restarts: 1001\n",
       {"test.yaml:21:17: supervision.max-restarts: must be an integer from 0 to 1000"}},
      {"max-restarts huge", std::string(good) + "supervision:\n  max-restarts: 99999999999999999999999\n",
       {"test.yaml:21:17: supervision.max-restarts: must be an integer"}},
      {"max-restarts fractional", std::string(good) + "supervision:\n  max-restarts: 2.5\n",
       {"test.yaml:21:17: supervision.max-restarts: must be an integer"}},
      {"max-restarts quoted", std::string(good) + "supervision:\n  max-restarts: \"3\"\n",
       {"test.yaml:21:17: supervision.max-restarts: must be an integer"}},
      {"within zero", std::string(good) + "supervision:\n  within: 0\n",
       {"test.yaml:21:11: supervision.within: must be a number of seconds, more than 0"}},
      {"within negative", std::string(good) + "supervision:\n  within: -30\n",
       {"test.yaml:21:11: supervision.within: must be a number of seconds"}},
      {"within a word", std::string(good) + "supervision:\n  within: 30s\n",
       {"test.yaml:21:11: supervision.within: must be a number of seconds"}},
      {"within infinite", std::string(good) + "supervision:\n  within: .inf\n",
       {"test.yaml:21:11: supervision.within: must be a number of seconds"}},
      {"within a map", std::string(good) + "supervision:\n  within: {s: 1}\n",
       {"test.yaml:21:11: supervision.within: must be a number of seconds"}},
      {"backoff-base zero", std::string(good) + "supervision:\n  backoff-base: 0\n",
       {"test.yaml:21:17: supervision.backoff-base: must be a number of seconds, more than 0 and at most 300"}},
      {"backoff-cap over 300", std::string(good) + "supervision:\n  backoff-cap: 301\n",
       {"test.yaml:21:16: supervision.backoff-cap: must be a number of seconds, more than 0 and at most 300"}},
      {"base above cap", std::string(good) + "supervision:\n  backoff-base: 2\n  backoff-cap: 1\n",
       {"test.yaml:21:17: supervision.backoff-base: 2 s is more than backoff-cap (1 s)"}},
      {"base above the default cap", std::string(good) + "supervision:\n  backoff-base: 10\n",
       {"test.yaml:21:17: supervision.backoff-base: 10 s is more than backoff-cap (5 s)"}},
      {"cap below the default base", std::string(good) + "supervision:\n  backoff-cap: 0.05\n",
       {"test.yaml:21:16: supervision.backoff-cap: 0.05 s is less than backoff-base (0.1 s)"}},
  };
  expect_refused(cases);
}

TEST(config, every_bad_supervision_setting_is_reported) {
  diagnostics diag("test.yaml");
  EXPECT_FALSE(load(std::string(good) + "supervision: {max-restarts: x, within: 0, backoff-base: -1, backoff-cap: 0}\n",
                    diag));
  EXPECT_EQ(diag.problems().size(), 4u) << diag.to_string();
}

// A config whose third rule (line 20 on) carries `policy` as its retry-policy.
std::string with_policy(const std::string& policy) {
  return std::string(good) + "  - name: r3\n    pattern: {\"detail-type\": [\"C\"]}\n    target: alpha\n"
         + "    retry-policy: " + policy + "\n";
}

TEST(config, retry_policy_defaults_are_eventbridges) {
  diagnostics diag("test.yaml");
  auto cfg = load(good, diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  for (const auto& r : cfg->rules) {
    EXPECT_EQ(r.retry.maximum_retry_attempts, 185);
    EXPECT_EQ(r.retry.maximum_event_age, std::chrono::hours(24));
    EXPECT_EQ(r.retry.backoff_base, std::chrono::seconds(1));
    EXPECT_EQ(r.retry.backoff_cap, std::chrono::seconds(60));
  }
}

TEST(config, retry_policy_is_read_with_inclusive_limits) {
  diagnostics diag("test.yaml");
  auto cfg = load(with_policy("{maximum-retry-attempts: 0, maximum-event-age: 60, backoff-base: 0.2, "
                              "backoff-cap: 300}"),
                  diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  const auto& p = cfg->rules.at(2).retry;
  EXPECT_EQ(p.maximum_retry_attempts, 0);
  EXPECT_EQ(p.maximum_event_age, std::chrono::seconds(60));
  EXPECT_EQ(p.backoff_base, std::chrono::milliseconds(200));
  EXPECT_EQ(p.backoff_cap, std::chrono::seconds(300));
  diagnostics diag2("test.yaml");
  cfg = load(with_policy("{maximum-retry-attempts: 185, maximum-event-age: 86400}"), diag2);
  ASSERT_TRUE(cfg) << diag2.to_string();
  EXPECT_EQ(cfg->rules.at(2).retry.maximum_retry_attempts, 185);
  EXPECT_EQ(cfg->rules.at(2).retry.maximum_event_age, std::chrono::hours(24));
}

TEST(config, bad_retry_policy_is_reported_with_its_position) {
  const std::vector<bad_case> cases = {
      {"attempts over 185", with_policy("{maximum-retry-attempts: 186}"),
       {"test.yaml:23:44: rules[2].retry-policy.maximum-retry-attempts: must be an integer from 0 to 185"}},
      {"attempts negative", with_policy("{maximum-retry-attempts: -1}"),
       {"test.yaml:23:44: rules[2].retry-policy.maximum-retry-attempts: must be an integer from 0 to 185"}},
      {"age under a minute", with_policy("{maximum-event-age: 59}"),
       {"test.yaml:23:39: rules[2].retry-policy.maximum-event-age: must be a number of seconds, from 60 to 86400"}},
      {"age over a day", with_policy("{maximum-event-age: 86401}"),
       {"test.yaml:23:39: rules[2].retry-policy.maximum-event-age: must be a number of seconds, from 60 to 86400"}},
      {"base above cap", with_policy("{backoff-base: 5, backoff-cap: 2}"),
       {"test.yaml:23:34: rules[2].retry-policy.backoff-base: 5 s is more than backoff-cap (2 s)"}},
      {"unknown key", with_policy("{maximum-retries: 3}"),
       {"test.yaml:23:20: rules[2].retry-policy: unknown key 'maximum-retries'"}},
      {"not a map", with_policy("[1]"), {"test.yaml:23:19: rules[2].retry-policy: must be a map"}},
  };
  expect_refused(cases);
}

TEST(config, event_age_is_the_longest_of_the_rules_that_may_route_it) {
  diagnostics diag("test.yaml");
  // r1 pins A and B; r2 pins no detail-type (it may route anything); r3 pins C.
  auto cfg = load(with_policy("{maximum-event-age: 120}"), diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  EXPECT_EQ(cfg->rules.at(0).detail_types, (std::vector<std::string>{"A", "B"}));
  EXPECT_FALSE(cfg->rules.at(1).detail_types);
  // C may be routed by r2 (24 h) and r3 (120 s): the origin keeps it 24 h.
  EXPECT_EQ(cfg->event_age_of("C"), std::chrono::hours(24));
  std::string only_r3 = replace(with_policy("{maximum-event-age: 120}"), "pattern: '{\"source\": [\"x\"]}'",
                                "pattern: '{\"detail-type\": [\"X\"]}'");
  diagnostics diag2("test.yaml");
  cfg = load(only_r3, diag2);
  ASSERT_TRUE(cfg) << diag2.to_string();
  EXPECT_EQ(cfg->event_age_of("C"), std::chrono::seconds(120));
  EXPECT_EQ(cfg->event_age_of("A"), std::chrono::hours(24));
  EXPECT_EQ(cfg->event_age_of("nobody-routes-this"), std::chrono::hours(24));
}

TEST(config, faults_are_read) {
  diagnostics diag("test.yaml");
  auto cfg = load(std::string(good) + "faults:\n  alpha: {transient: 0.3, crash: 0, outage: {after: 10, for: 20}}\n"
                                      "  beta:\n    poison: {\"detail\": {\"card\": [\"4000\"]}}\n",
                  diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  ASSERT_EQ(cfg->faults.size(), 2u);
  const auto& a = cfg->faults.at("alpha");
  EXPECT_DOUBLE_EQ(a.transient, 0.3);
  EXPECT_DOUBLE_EQ(a.crash, 0);
  EXPECT_EQ(a.outage_after, std::chrono::seconds(10));
  EXPECT_EQ(a.outage_for, std::chrono::seconds(20));
  EXPECT_TRUE(a.poison_json.empty());
  EXPECT_EQ(cfg->faults.at("beta").poison_json, R"({"detail":{"card":["4000"]}})");
  diagnostics none("test.yaml");
  EXPECT_TRUE(load(good, none)->faults.empty());
}

TEST(config, bad_faults_are_reported_with_their_position) {
  const std::vector<bad_case> cases = {
      {"probability over 1", std::string(good) + "faults:\n  alpha: {transient: 1.5}\n",
       {"test.yaml:21:22: faults.alpha.transient: must be a probability, a number from 0 to 1"}},
      {"negative probability", std::string(good) + "faults:\n  alpha: {crash: -0.1}\n",
       {"test.yaml:21:18: faults.alpha.crash: must be a probability"}},
      {"unknown service", std::string(good) + "faults:\n  gamma: {transient: 0.1}\n",
       {"test.yaml:21:3: faults.gamma: no node runs this service"}},
      {"unknown key", std::string(good) + "faults:\n  alpha: {transiant: 0.1}\n",
       {"test.yaml:21:11: faults.alpha: unknown key 'transiant'"}},
      {"bad poison", std::string(good) + "faults:\n  alpha:\n    poison: {\"detail\": {\"card\": \"x\"}}\n",
       {"test.yaml:22:", "faults.alpha.poison:"}},
      {"outage without for", std::string(good) + "faults:\n  alpha: {outage: {after: 3}}\n",
       {"test.yaml:21:19: faults.alpha.outage: must be a map with 'after' and 'for' (seconds)"}},
  };
  expect_refused(cases);
}

TEST(config, handler_timeout_and_delay_are_read) {
  diagnostics diag("test.yaml");
  auto cfg = load(with_policy("{handler-timeout: 0.25}") + "faults:\n  alpha: {delay: 1.5, delay-probability: 0.1}\n",
                  diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  EXPECT_EQ(cfg->rules.at(2).retry.handler_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(cfg->rules.at(0).retry.handler_timeout, std::chrono::seconds(30));  // the default
  EXPECT_EQ(cfg->faults.at("alpha").delay, std::chrono::milliseconds(1500));
  EXPECT_DOUBLE_EQ(cfg->faults.at("alpha").delay_probability, 0.1);
  const std::vector<bad_case> cases = {
      {"timeout zero", with_policy("{handler-timeout: 0}"),
       {"test.yaml:23:37: rules[2].retry-policy.handler-timeout: must be a number of seconds, more than 0 and at "
        "most 900"}},
      {"timeout too long", with_policy("{handler-timeout: 901}"), {"handler-timeout: must be a number of seconds"}},
      {"bad delay", std::string(good) + "faults:\n  alpha: {delay: -1}\n",
       {"test.yaml:21:18: faults.alpha.delay: must be a number of seconds"}},
  };
  expect_refused(cases);
}

/// `good` with a third node running the DLQ, and r1 sending it dead letters.
std::string with_dlq(const std::string& dlq_line = "    dead-letter-queue: dlq\n") {
  std::string s = replace(good, "services:\n  beta:",
                          "  three:\n    endpoints: {pub: \"tcp://127.0.0.1:5005\", control: "
                          "\"tcp://127.0.0.1:5006\"}\n    services: [dlq]\nservices:\n  beta:");
  return replace(s, "    target: alpha\n", "    target: alpha\n" + dlq_line);
}

TEST(config, a_dead_letter_queue_gets_the_runtimes_own_routes) {
  diagnostics diag("test.yaml");
  auto cfg = load(with_dlq(), diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  ASSERT_EQ(cfg->rules.size(), 4u);
  EXPECT_EQ(cfg->rules[0].dead_letter_queue, "dlq");
  EXPECT_TRUE(cfg->rules[1].dead_letter_queue.empty());
  EXPECT_FALSE(cfg->rules[0].internal);
  const auto& letters = cfg->rules[2];
  EXPECT_EQ(letters.name, "troupe.dead-letters.dlq");
  EXPECT_TRUE(letters.internal);
  EXPECT_EQ(letters.target, "dlq");
  EXPECT_EQ(letters.detail_types, (std::vector<std::string>{"DeadLetter"}));
  EXPECT_NE(letters.pattern_json.find(R"("dead-letter-queue":["dlq"])"), std::string::npos) << letters.pattern_json;
  EXPECT_EQ(cfg->rules[3].name, "troupe.dlq-commands.dlq");
  EXPECT_EQ(cfg->rules[3].target, "dlq");
}

TEST(config, a_bad_dead_letter_queue_is_reported_with_its_position) {
  std::string same_node = with_dlq();
  same_node = replace(same_node, "services: [dlq]", "services: [gamma]");
  same_node = replace(same_node, "services: [alpha]", "services: [alpha, dlq]");
  const std::vector<bad_case> cases = {
      {"not a dlq", with_dlq("    dead-letter-queue: beta\n"),
       {"test.yaml:20:24: rules[0].dead-letter-queue: 'beta' is not a dead-letter queue"}},
      {"nobody runs it", replace(with_dlq(), "services: [dlq]", "services: [alpha2]"),
       {"rules[0].dead-letter-queue: no node runs the 'dlq' service"}},
      {"beside its target", same_node,
       {"rules[0].dead-letter-queue: 'dlq' runs on node 'one' with the target; a DLQ needs a node of its own"}},
      {"a runtime name", replace(good, "name: r1", "name: troupe.r1"),
       {"test.yaml:14:11: rules[0].name: names starting with 'troupe.' are the runtime's own"}},
  };
  expect_refused(cases);
}

// yaml-cpp keeps both entries of a key written twice, and a lookup finds
// the first: each second one is a problem, wherever it is.
TEST(config, a_key_written_twice_is_reported_wherever_it_is) {
  const std::vector<bad_case> cases = {
      {"a node name", replace(good, "  two:\n", "  one:\n"),
       {"test.yaml:7:3: nodes: duplicate key 'one' (first on line 4)"}},
      {"a pattern's field", replace(good, R"({"detail-type": ["A", "B"], )", R"({"detail-type": ["A"], "detail-type": ["B"], )"),
       {"test.yaml:15:37: rules[0].pattern: duplicate key 'detail-type' (first on line 15)"}},
      {"deep in a pattern", replace(good, R"({"n": [)", R"({"n": [1], "n": [)"),
       {"test.yaml:15:"," rules[0].pattern.detail: duplicate key 'n' (first on line 15)"}},
      {"a top-level key", std::string(good) + "cluster: again\n",
       {"test.yaml:20:1: config: duplicate key 'cluster' (first on line 1)"}},
      {"an endpoint", replace(good, "control: \"tcp://127.0.0.1:5002\"", "pub: \"tcp://127.0.0.1:5002\""),
       {"test.yaml:5:46: nodes.one.endpoints: duplicate key 'pub' (first on line 5)"}},
      {"quoted and plain are one key", replace(good, "  beta: {size: 3}", "  beta: {size: 3, \"size\": 4}"),
       {"test.yaml:12:19: services.beta: duplicate key 'size' (first on line 12)"}},
      {"a rule's key", replace(good, "    target: beta\n", "    target: beta\n    target: alpha\n"),
       {"test.yaml:20:5: rules[1]: duplicate key 'target' (first on line 19)"}},
      {"a fault", std::string(good) + "faults:\n  alpha: {crash: 0.1}\n  alpha: {crash: 0.2}\n",
       {"test.yaml:22:3: faults: duplicate key 'alpha' (first on line 21)"}},
  };
  expect_refused(cases);
  diagnostics diag("test.yaml");
  EXPECT_FALSE(load(replace(good, "  two:\n", "  one:\n"), diag));
  EXPECT_EQ(diag.to_string().find("unknown key"), std::string::npos) << diag.to_string();
}

// The "billion laughs": nine levels of nine aliases each, 9^9 strings when
// expanded, used as a pattern (once 66 s, 2.9 GB and std::bad_alloc).
std::string alias_bomb() {
  std::string s = "cluster: c\nx:\n  a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    s += std::string("  ") + level + ": &" + level + " [";
    for (int i = 0; i < 9; ++i)
      s += std::string(i ? ", *" : "*") + static_cast<char>(level - 1);
    s += "]\n";
  }
  return s + "nodes:\n  one:\n    endpoints: {pub: \"tcp://127.0.0.1:5001\", control: \"tcp://127.0.0.1:5002\"}\n"
             "    services: [alpha]\nrules:\n  - name: r\n    pattern: {\"source\": *i}\n    target: alpha\n";
}

TEST(config, aliases_may_not_expand_past_a_bound) {
  const auto started = std::chrono::steady_clock::now();
  diagnostics diag("test.yaml");
  EXPECT_FALSE(load(alias_bomb(), diag));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  // a is 10 nodes, b 91, c 820, d 7381, e 66430: the first *e in f takes
  // what aliases add past 100000.
  ASSERT_EQ(diag.problems().size(), 1u) << diag.to_string();
  EXPECT_EQ(diag.problems()[0].to_string(),
            "test.yaml:8:10: x.f[0]: alias '*e' takes the nodes that aliases add past 100000, the limit");
}

TEST(config, an_alias_inside_the_node_it_names_is_a_cycle) {
  const std::vector<bad_case> cases = {
      {"in a pattern", replace(good, R"(pattern: {"detail-type")", R"(pattern: &p {"source": [*p], "detail-type")"),
       {"test.yaml:15:29: rules[0].pattern.source[0]: alias '*p' is inside the node it names, a cycle"}},
      {"a node that is its own settings", replace(good, "  one:\n", "  one: &one\n    host: *one\n"),
       {"test.yaml:5:11: nodes.one.host: alias '*one' is inside the node it names, a cycle"}},
  };
  expect_refused(cases);
}

TEST(config, aliases_within_the_bound_are_read) {
  auto yaml = replace(good, R"(pattern: {"detail-type")", R"(pattern: &p1 {"detail-type")");
  yaml = replace(yaml, R"(pattern: '{"source": ["x"]}')", "pattern: *p1");
  yaml = replace(yaml, "services: [alpha]", "services: &s [alpha]\n    durability: &d fsync");
  yaml = replace(yaml, "    host: h2\n", "    host: h2\n    durability: *d\n");
  diagnostics diag("test.yaml");
  auto cfg = load(yaml, diag);
  ASSERT_TRUE(cfg) << diag.to_string();
  EXPECT_EQ(cfg->rules.at(1).pattern_json, cfg->rules.at(0).pattern_json);
  EXPECT_EQ(cfg->nodes.at(1).durability, "fsync");
  // Aliases as keys are keys too: a second one is a duplicate.
  diagnostics dup("test.yaml");
  EXPECT_FALSE(load(replace(good, "  beta: {size: 3}", "  beta: {&k size: 3, *k : 4}"), dup));
  EXPECT_NE(dup.to_string().find("test.yaml:12:22: services.beta: duplicate key 'size' (first on line 12)"),
            std::string::npos)
      << dup.to_string();
}

// A problem is one printable line with a place in the file, whatever the
// file holds.
void expect_positioned_and_printable(const diagnostics& diag, const std::string& name) {
  for (const auto& p : diag.problems()) {
    EXPECT_GT(p.line, 0) << name << ": " << p.to_string();
    EXPECT_GT(p.column, 0) << name << ": " << p.to_string();
    EXPECT_TRUE(valid_utf8(p.reason)) << name;
    for (char c : p.reason)
      ASSERT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7F) << name << ": " << p.to_string();
  }
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

TEST(config, hostile_input_is_a_problem_with_a_position_not_a_crash) {
  std::mt19937 rng(11);
  std::string garbage;
  for (int i = 0; i < 4096; ++i)
    garbage += static_cast<char>(rng() & 0xFF);
  const char with_nul[] = "cluster: c\0\0\0\nnodes: {}\n";
  std::string padding(max_config_bytes, '#');
  padding[max_config_bytes - 1] = '\n';
  const std::vector<bad_case> cases = {
      {"an empty file", "", {"test.yaml:1:1: the config is empty: it must be a map with 'cluster', 'nodes' and 'rules'"}},
      {"only comments", "# nothing yet\n\n", {"test.yaml:1:1: the config is empty"}},
      {"a scalar", "hello\n", {"test.yaml:1:1: the config must be a map"}},
      {"a list", "[1, 2]\n", {"test.yaml:1:1: the config must be a map"}},
      {"100000 [", std::string(100000, '['), {"nested deeper than 499 levels"}},
      {"100000 {a: ", repeat("{a: ", 100000), {"test.yaml:1:", "nested deeper than 499 levels"}},
      {"a deep block list", "x:\n" + repeat("- ", 100000) + "x\n", {"test.yaml:2:", "nested deeper than 499 levels"}},
      {"binary garbage", garbage, {}},
      {"NUL bytes", std::string(with_nul, sizeof with_nul - 1), {"test.yaml:"}},
      {"an unclosed quote", "cluster: \"demo\nnodes: {}\n", {"test.yaml:"}},
      // yaml-cpp 0.7 parses a lone comma as endless empty documents.
      {"a lone comma", ",", {"test.yaml:1:1: the YAML parser stops advancing here: the text is malformed"}},
      {"a comma after a document", "cluster: c\n...\n,\n", {"test.yaml:3:1: a second YAML document"}},
      {"a second document", std::string(good) + "---\ncluster: other\n",
       {"test.yaml:20:1: a second YAML document: a config is one document, and the rest would be ignored"}},
      {"not UTF-8 in a pattern", replace(good, R"(["A", "B"])", "[\"A\xff\", \"B\"]"),
       {"test.yaml:15:31: rules[0].pattern.detail-type[0]: not UTF-8 text"}},
      {"not UTF-8 in a quoted pattern", replace(good, R"('{"source": ["x"]}')", "'{\"source\": [\"\xc0\xaf\"]}'"),
       {"test.yaml:18:14: rules[1].pattern: not UTF-8 text"}},
      {"not UTF-8 in a key", replace(good, "  two:", "  tw\xe2\x28:"),
       {"test.yaml:7:3: nodes.tw\\xE2(: not UTF-8 text", "test.yaml:7:3: nodes.tw\\xE2(: a node name is"}},
      {"a control character in a name", replace(good, "cluster: demo", "cluster: \"de\\u0007mo\""),
       {"test.yaml:1:10: cluster: only letters"}},
      {"more nodes than the limit", "cluster: c\nx: [" + repeat("1,", 100000) + "1]\n",
       {"test.yaml:2:199995: the config has more than 100000 nodes, the limit"}},
      {"a file past the limit", std::string(good) + padding, {"test.yaml:", "the config is more than 1048576 bytes, the limit"}},
  };
  for (const auto& c : cases) {
    diagnostics diag("test.yaml");
    EXPECT_NO_THROW(EXPECT_FALSE(load(c.yaml, diag)) << c.name);
    EXPECT_FALSE(diag.empty()) << c.name;
    expect_positioned_and_printable(diag, c.name);
    const auto all = diag.to_string();
    for (const auto& want : c.expected)
      EXPECT_NE(all.find(want), std::string::npos) << c.name << ": wanted '" << want << "' in:\n" << all;
  }
}

// Random edits of real configs: each loads, or is refused with problems
// that are printable lines, and never throws.
TEST(config, edited_configs_never_throw) {
  const std::string alphabet = std::string("[]{}:,-?&*!|>'\"%@`#\n \t\\abc01\xff", 30) + '\0';
  const std::vector<std::string> bases = {good, with_policy("{maximum-event-age: 120}"), with_dlq(), alias_bomb()};
  std::mt19937 rng(5);
  for (int i = 0; i < 400; ++i) {
    std::string yaml = bases[rng() % bases.size()];
    for (int edits = 1 + static_cast<int>(rng() % 8); edits > 0; --edits) {
      const auto at = rng() % yaml.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: yaml[at] = c; break;
        case 1: yaml.insert(yaml.begin() + static_cast<long>(at), c); break;
        default: yaml.erase(at, 1);
      }
    }
    diagnostics diag("test.yaml");
    ASSERT_NO_THROW(load(yaml, diag)) << yaml;
    for (const auto& p : diag.problems())
      ASSERT_TRUE(valid_utf8(p.reason) && p.reason.find('\n') == std::string::npos) << p.to_string();
  }
}

TEST(config, a_file_is_read_no_further_than_the_limit) {
  test::temp_dir dir;
  const auto path = (dir.path() / "big.yaml").string();
  {
    std::ofstream out(path);
    out << good << std::string(2 * max_config_bytes, '#');
  }
  diagnostics diag(path);
  EXPECT_FALSE(cluster::load(path, check, diag));
  ASSERT_EQ(diag.problems().size(), 1u) << diag.to_string();
  EXPECT_EQ(diag.problems()[0].reason, "the config is more than 1048576 bytes, the limit");
  EXPECT_EQ(diag.problems()[0].line, 20);
}

// Scalars of a few hundred kilobytes once overflowed the stack of the
// regex that read them.
TEST(config, a_long_scalar_is_read_without_overflowing_the_stack) {
  const std::string digits(300000, '7');
  const std::vector<bad_case> cases = {
      {"cluster name", replace(good, "cluster: demo", "cluster: " + std::string(300000, 'c') + "!"),
       {"test.yaml:1:10: cluster: only letters, digits, '.', '_' and '-' are allowed"}},
      {"node name", replace(good, "  two:", "  t" + std::string(1000, 'w') + ":"),
       {"test.yaml:7:3: nodes.tw", ": a node name is 1 to 32 of"}},
      {"integer", std::string(good) + "supervision:\n  max-restarts: " + digits + "\n",
       {"test.yaml:21:17: supervision.max-restarts: must be an integer from 0 to 1000"}},
      {"seconds", std::string(good) + "supervision:\n  within: " + digits + ".5\n",
       {"test.yaml:21:11: supervision.within: must be a number of seconds"}},
      {"probability", std::string(good) + "faults:\n  alpha: {crash: 0." + digits + "x}\n",
       {"test.yaml:21:18: faults.alpha.crash: must be a probability"}},
      {"number in a pattern", replace(good, R"([">", 3])", "[\">\", " + digits + "]"),
       {"test.yaml:15:", "rules[0].pattern: the pattern is"}},
  };
  expect_refused(cases);
}

// In `good`, node one binds tcp://127.0.0.1:5001 (pub, line 5) and :5002
// (control); node two binds ipc:///tmp/two-pub (pub, 9:22) and
// tcp://[::1]:5004 (control, 9:53).
std::string two_control(const std::string& endpoint) { return replace(good, "tcp://[::1]:5004", endpoint); }

TEST(config, endpoints_that_bind_one_address_conflict_however_written) {
  const std::string long_path = "/tmp/" + std::string(103, 'p');  // 108 bytes: one past a socket path
  const std::vector<bad_case> cases = {
      {"localhost is 127.0.0.1", two_control("tcp://localhost:5001"),
       {"test.yaml:9:53: nodes.two.endpoints.control: 'tcp://localhost:5001' conflicts with nodes.one.endpoints.pub "
        "('tcp://127.0.0.1:5001'): both bind 127.0.0.1 port 5001"}},
      {"host names ignore case", two_control("tcp://LocalHost:5001"), {"test.yaml:9:53: ", "both bind 127.0.0.1 port 5001"}},
      {"localhost is ::1 too", replace(good, "tcp://127.0.0.1:5002", "tcp://localhost:5004"),
       {"test.yaml:9:53: nodes.two.endpoints.control: 'tcp://[::1]:5004' conflicts with nodes.one.endpoints.control "
        "('tcp://localhost:5004'): both bind ::1 port 5004"}},
      {"0.0.0.0 binds every address", two_control("tcp://0.0.0.0:5001"),
       {"test.yaml:9:53: nodes.two.endpoints.control: 'tcp://0.0.0.0:5001' conflicts with nodes.one.endpoints.pub "
        "('tcp://127.0.0.1:5001'): both bind port 5001, and 'tcp://0.0.0.0:5001' binds every address"}},
      {"a wildcard written first", replace(good, "tcp://127.0.0.1:5002", "tcp://0.0.0.0:5004"),
       {"test.yaml:9:53: nodes.two.endpoints.control: 'tcp://[::1]:5004' conflicts with nodes.one.endpoints.control "
        "('tcp://0.0.0.0:5004'): both bind port 5004, and 'tcp://0.0.0.0:5004' binds every address"}},
      {"[::] binds every address", two_control("tcp://[::]:5002"), {"test.yaml:9:53: ", "both bind port 5002"}},
      {"127.1 is 127.0.0.1 to libzmq", two_control("tcp://127.1:5001"), {"test.yaml:9:53: ", "both bind 127.0.0.1 port 5001"}},
      {"ipc paths compare as paths", replace(good, "tcp://127.0.0.1:5002", "ipc:///tmp//x/../two-pub"),
       {"test.yaml:9:22: nodes.two.endpoints.pub: 'ipc:///tmp/two-pub' conflicts with nodes.one.endpoints.control "
        "('ipc:///tmp//x/../two-pub'): both are the socket /tmp/two-pub"}},
      {"an ipc path longer than a socket path", replace(good, "ipc:///tmp/two-pub", "ipc://" + long_path),
       {"test.yaml:9:22: nodes.two.endpoints.pub: 'ipc://" + long_path
        + "': the path is 108 bytes, and a Unix socket path holds at most 107"}},
      {"a * host cannot be connected to", two_control("tcp://*:5004"),
       {"test.yaml:9:53: nodes.two.endpoints.control: 'tcp://*:5004': other nodes connect to this endpoint and cannot "
        "connect to '*'; tcp://0.0.0.0:5004 binds every address"}},
      {"a host name too long for DNS", two_control("tcp://" + std::string(300000, 'h') + ":5004"),
       {"test.yaml:9:53: nodes.two.endpoints.control: '", "' is not tcp://HOST:PORT"}},
      {"an IPv6 address that is none", two_control("tcp://[::g]:5004"), {"test.yaml:9:53: ", "is not tcp://HOST:PORT"}},
  };
  expect_refused(cases);
}

/// `yaml` with a key pair for each node of `good`.
std::string keyed(std::string yaml) {
  for (const char* services : {"    services: [alpha]\n", "    services: [beta]\n"}) {
    const auto at = yaml.find(services);
    if (at == std::string::npos)
      throw std::runtime_error("no '" + std::string(services) + "' in the config");
    yaml.insert(at + std::strlen(services),
                "    public-key: \"" + wire::make_key_pair()->public_key + "\"\n    secret-key-env: K\n");
  }
  return yaml;
}

TEST(config, endpoints_on_other_addresses_ports_or_paths_do_not_conflict) {
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"another loopback address", two_control("tcp://127.0.0.2:5001")},
      // Keyed: an open cluster binds loopback only.
      {"a wildcard on another port", keyed(two_control("tcp://0.0.0.0:5009"))},
      {"localhost on another port", two_control("tcp://localhost:5009")},
      {"the same port over ipc", replace(good, "ipc:///tmp/two-pub", "ipc:///tmp/5001")},
      {"an ipc path of 107 bytes", replace(good, "ipc:///tmp/two-pub", "ipc:///tmp/" + std::string(102, 'p'))},
      {"ipc names of libzmq's choosing", replace(two_control("ipc://*"), "ipc:///tmp/two-pub", "ipc://*")},
  };
  for (const auto& [name, yaml] : cases) {
    diagnostics diag("test.yaml");
    EXPECT_TRUE(load(yaml, diag)) << name << ":\n" << diag.to_string();
  }
}

TEST(config, a_data_dir_that_cannot_hold_data_is_reported) {
  test::temp_dir dir;
  const auto d = dir.path().string();
  std::ofstream(dir.path() / "file") << "not a directory\n";
  std::filesystem::create_directories(dir.path() / "nodes");
  std::ofstream(dir.path() / "nodes" / "one") << "not a directory either\n";
  const auto with_data_dir = [](const std::string& data_dir) {
    return replace(good, "data-dir: state", "data-dir: " + data_dir);
  };
  const std::vector<bad_case> cases = {
      {"a regular file", with_data_dir("file"),
       {"test.yaml:2:11: data-dir: '" + d + "/file' exists and is not a directory"}},
      {"under a regular file", with_data_dir("file/state"),
       {"test.yaml:2:11: data-dir: '" + d + "/file/state' cannot be made: '" + d + "/file' is not a directory"}},
      {"under /proc", with_data_dir("/proc/troupe"),
       {"test.yaml:2:11: data-dir: '/proc/troupe' is on proc, a kernel file system that holds no data"}},
      {"/proc itself", with_data_dir("/proc"), {"test.yaml:2:11: data-dir: '/proc' is on proc"}},
      {"under /sys", with_data_dir("/sys/troupe"), {"test.yaml:2:11: data-dir: '/sys/troupe' is on sysfs"}},
      {"a node's directory is a file", with_data_dir("nodes"),
       {"test.yaml:4:3: nodes.one: its data directory '" + d + "/nodes/one' exists and is not a directory"}},
  };
  for (const auto& c : cases) {
    diagnostics diag("test.yaml");
    EXPECT_FALSE(load_text(c.yaml, "test.yaml", dir.path(), check, diag)) << c.name;
    const auto all = diag.to_string();
    for (const auto& want : c.expected)
      EXPECT_NE(all.find(want), std::string::npos) << c.name << ": wanted '" << want << "' in:\n" << all;
  }
  diagnostics fine("test.yaml");
  EXPECT_TRUE(load_text(with_data_dir("new/deeper/state"), "test.yaml", dir.path(), check, fine)) << fine.to_string();
  // Without a data-dir, it is 'data' beside the config.
  std::ofstream(dir.path() / "data") << "a file\n";
  diagnostics by_default("test.yaml");
  EXPECT_FALSE(load_text(replace(good, "data-dir: state\n", ""), "test.yaml", dir.path(), check, by_default));
  EXPECT_EQ(by_default.to_string(), "test.yaml:1:1: data-dir: '" + d
                                        + "/data' exists and is not a directory (the default, 'data' beside the "
                                          "config)\n");
}

TEST(full_jitter, stays_within_zero_and_the_grown_ceiling) {
  std::mt19937_64 rng(1);
  using ms = std::chrono::milliseconds;
  for (int attempt = 0; attempt < 40; ++attempt) {
    const auto ceiling = std::min<long long>(100LL << std::min(attempt, 20), 5000);
    ms lowest = ms::max(), highest = ms::min();
    for (int i = 0; i < 2000; ++i) {
      const auto d = full_jitter(ms(100), ms(5000), attempt, rng);
      ASSERT_GE(d.count(), 0);
      ASSERT_LE(d.count(), ceiling) << "attempt " << attempt;
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
    }
    // Full jitter spreads over the whole range, not just near the ceiling.
    EXPECT_LT(lowest.count(), ceiling / 10 + 1) << attempt;
    EXPECT_GT(highest.count(), ceiling * 9 / 10) << attempt;
  }
}

TEST(yaml_to_json, scalars_follow_the_core_schema_and_quotes_keep_strings) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"[1, -2, 3.5, 3.0e2, +4, .5, 7.]", "[1,-2,3.5,3.0e2,4,0.5,7.0]"},
      {"[\"1\", '2', x, 'true']", R"(["1","2","x","true"])"},
      {"[true, false, null, ~, True]", "[true,false,null,null,true]"},
      {"{a: {b: [c]}}", R"({"a":{"b":["c"]}})"},
      {R"({"detail": {"x": [{"prefix": "a\"b"}]}})", R"({"detail":{"x":[{"prefix":"a\"b"}]}})"},
  };
  for (const auto& [yaml, json] : cases)
    EXPECT_EQ(yaml_to_json(YAML::Load(yaml)), json) << yaml;
}

} // namespace
} // namespace troupe::cluster
