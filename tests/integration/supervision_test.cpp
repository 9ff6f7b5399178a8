// `troupe launch` as a supervisor: a node that dies comes back with a new
// pid, one that keeps dying is given up on while the others go on, the
// restart window slides, a stop cancels a pending restart, and nothing
// outlives the launcher. And a node as its services' supervisor: the same
// intensity, counted in crashes of the service's handler.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;

const std::map<std::string, std::vector<std::string>> two_nodes = {{"one", {"ticket"}}, {"two", {"seat"}}};

std::string body(const std::string& supervision) {
  return supervision
         + "services:\n  seat:\n    flights: {F: {rows: 1, layout: \"AB\"}}\n"
           "rules:\n  - {name: t, pattern: {\"detail-type\": [\"SeatAssigned\"]}, target: ticket}\n";
}

// Every pid the launcher started `node` with, in order.
std::vector<pid_t> pids_of(const cluster& c, const std::string& node) {
  const auto out = c.launcher_output();
  const std::regex re("(re)?started node " + node + " \\(pid ([0-9]+)\\)");
  std::vector<pid_t> pids;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it)
    pids.push_back(std::stoi((*it)[2].str()));
  return pids;
}

bool has(const cluster& c, const std::string& text) { return c.launcher_output().find(text) != std::string::npos; }

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

// Alive means running: a zombie nobody has reaped yet is dead.
bool alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat))
    return false;
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
}

// Kills the newest process of `node` and waits until the launcher has
// started the next one; returns its pid (or -1 on timeout).
pid_t kill_and_wait_for_restart(const cluster& c, const std::string& node, int sig = SIGKILL) {
  const auto before = pids_of(c, node);
  if (before.empty() || kill(before.back(), sig) != 0)
    return -1;
  if (!wait_until([&] { return pids_of(c, node).size() > before.size(); }, 20s))
    return -1;
  return pids_of(c, node).back();
}

TEST(supervision, a_killed_node_is_restarted_with_a_new_pid) {
  cluster c(two_nodes, body(""));  // the default policy
  c.start();
  const auto first = pids_of(c, "two");
  ASSERT_EQ(first.size(), 1u) << c.launcher_output();
  const pid_t one = pids_of(c, "one").at(0);

  const pid_t next = kill_and_wait_for_restart(c, "two");
  ASSERT_GT(next, 0) << c.launcher_output();
  EXPECT_NE(next, first[0]);
  EXPECT_TRUE(alive(next));
  EXPECT_FALSE(alive(first[0]));
  const auto out = c.launcher_output();
  EXPECT_TRUE(std::regex_search(out, std::regex("\\[node=launch\\] node two killed by signal 9 \\(Killed\\); restart 1 in [0-9]+ ms")))
      << out;
  EXPECT_NE(out.find("[node=launch] restarted node two (pid " + std::to_string(next) + ")"), std::string::npos) << out;

  // The new process rejoins: every node answers and is connected again.
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  auto ready = cli::wait_ready(*cfg, 30s);
  EXPECT_TRUE(ready) << (ready ? "" : ready.err().message) << "\n" << c.launcher_output();
  EXPECT_TRUE(wait_until([&] { return has(c, "node two is ready again"); }, 10s)) << c.launcher_output();

  // Only the dead node was touched.
  EXPECT_EQ(pids_of(c, "one"), std::vector<pid_t>{one});
  EXPECT_TRUE(alive(one));

  EXPECT_EQ(c.stop(), 0) << "a restart along the way does not make a clean stop fail\n" << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
  EXPECT_FALSE(alive(next));
  EXPECT_FALSE(has(c, "FAILED"));
  EXPECT_TRUE(has(c, "all nodes stopped"));
}

TEST(supervision, a_node_that_exits_by_itself_is_restarted_too) {
  cluster c(two_nodes, body("supervision: {backoff-base: 0.05, backoff-cap: 0.1}\n"));
  c.start();
  // SIGTERM to the node alone: it shuts down in good order, yet outside a
  // stop of the launcher that is still a node gone missing.
  const pid_t next = kill_and_wait_for_restart(c, "two", SIGTERM);
  ASSERT_GT(next, 0) << c.launcher_output();
  EXPECT_TRUE(std::regex_search(c.launcher_output(), std::regex("node two (exited with code [0-9]+|killed by signal "
                                                                "15 \\(Terminated\\)); restart 1 in [0-9]+ ms")))
      << c.launcher_output();
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
}

TEST(supervision, past_the_restart_intensity_a_node_is_failed_and_the_others_go_on) {
  cluster c(two_nodes, body("supervision: {max-restarts: 2, within: 30, backoff-base: 0.05, backoff-cap: 0.1}\n"));
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  for (int i = 1; i <= 2; ++i) {
    ASSERT_GT(kill_and_wait_for_restart(c, "two"), 0) << "restart " << i << "\n" << c.launcher_output();
    EXPECT_TRUE(has(c, "node two killed by signal 9 (Killed); restart " + std::to_string(i) + " in "))
        << c.launcher_output();
  }
  const pid_t last = pids_of(c, "two").back();
  ASSERT_EQ(kill(last, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return has(c, "node two FAILED: 3 restarts within 30 s"); }, 20s))
      << c.launcher_output();
  EXPECT_TRUE(has(c, "not restarting it"));

  // The failed node stays down: it does not answer, and by the time the
  // question has timed out the launcher has started nothing new for it.
  EXPECT_FALSE(cli::status(*cfg, *cfg->find_node("two"), 1500ms));
  EXPECT_EQ(pids_of(c, "two").size(), 3u) << c.launcher_output();
  EXPECT_FALSE(has(c, "restart 3 in")) << c.launcher_output();
  EXPECT_FALSE(alive(last));

  // The other node is untouched and keeps serving.
  EXPECT_EQ(pids_of(c, "one").size(), 1u);
  auto s = cli::status(*cfg, *cfg->find_node("one"), 5s);
  ASSERT_TRUE(s) << s.err().message;
  EXPECT_EQ((*s)["node"], "one") << s->dump();

  EXPECT_EQ(c.stop(), 1) << "a node FAILED, so the launch did not end cleanly\n" << c.launcher_output();
  EXPECT_FALSE(c.any_process_left());
  EXPECT_TRUE(has(c, "all nodes stopped"));
}

// The window slides: a restart older than `within` no longer counts. One
// restart allowed in 3 s: two deaths more than 3 s apart are each
// restarted, and a third close behind the second fails the node.
TEST(supervision, restarts_spaced_beyond_the_window_keep_a_node_going) {
  cluster c(two_nodes, body("supervision: {max-restarts: 1, within: 3, backoff-base: 0.05, backoff-cap: 0.1}\n"));
  c.start();
  ASSERT_GT(kill_and_wait_for_restart(c, "two"), 0) << c.launcher_output();
  // The launcher noted the death before the restart the test has seen:
  // from here on, the window has left it behind once 3 s have passed.
  std::this_thread::sleep_for(3500ms);
  ASSERT_GT(kill_and_wait_for_restart(c, "two"), 0) << c.launcher_output();
  EXPECT_EQ(count(c.launcher_output(), "node two killed by signal 9 (Killed); restart 1 in "), 2u)
      << "the first restart had left the window\n" << c.launcher_output();
  const pid_t last = pids_of(c, "two").back();
  ASSERT_EQ(kill(last, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return has(c, "node two FAILED: 2 restarts within 3 s"); }, 20s))
      << c.launcher_output();
  EXPECT_EQ(pids_of(c, "two").size(), 3u) << c.launcher_output();
  EXPECT_EQ(c.stop(), 1) << c.launcher_output();
}

// A service whose handler always throws, one Ping one crash (no retries),
// at most 1 restart in 3 s: a crash more than 3 s after the first is
// restarted again, the next one close behind fails the service for good.
TEST(supervision, a_service_restarts_exactly_its_limit_within_the_window_and_the_window_slides) {
  cluster c({{"src", {"ticket"}}, {"dst", {"sink"}}},
            "supervision: {max-restarts: 1, within: 3, backoff-base: 0.05, backoff-cap: 0.1}\n"
            "faults:\n  sink: {crash: 1.0}\n"
            "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink,\n"
            "     retry-policy: {maximum-retry-attempts: 0, backoff-base: 0.01, backoff-cap: 0.05}}\n");
  c.start_node("src");
  c.start_node("dst");
  ASSERT_TRUE(c.node_answers("src", 10s) && c.node_answers("dst", 10s));
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto put_pings = [&](std::size_t n) {
    wire::client client(c.control("src"), c.curve("src"));
    wire::control_request req;
    req.verb = "put";
    for (std::size_t i = 0; i < n; ++i)
      req.entries.push_back({"test", "Ping", "\x80", "", {}, {}});
    auto rep = client.call(req, 10s);
    return rep && rep->ok && rep->results.size() == n;
  };
  nlohmann::json st;
  const auto sink_is = [&](const nlohmann::json& want) {
    return wait_until(
        [&] {
          auto s = cli::status(*cfg, *cfg->find_node("dst"), 2s);
          if (!s)
            return false;
          st = (*s)["services"]["sink"];
          for (const auto& m : (*s)["metrics"])
            if (m["rule"] == "pings")
              st["FailedInvocations"] = m["FailedInvocations"];
          for (const auto& [k, v] : want.items())
            if (st[k] != v)
              return false;
          return true;
        },
        20s);
  };

  ASSERT_TRUE(put_pings(1));
  ASSERT_TRUE(sink_is({{"state", "running"}, {"crashed", 1}, {"restarts", 1}})) << st.dump();
  // Past the window, the first restart no longer counts.
  std::this_thread::sleep_for(3500ms);
  // Two at once: the first crash is restarted, the second, close behind
  // it, is one more than the limit allows.
  ASSERT_TRUE(put_pings(2));
  ASSERT_TRUE(sink_is({{"state", "failed"}, {"crashed", 3}, {"restarts", 2}, {"FailedInvocations", 3}}))
      << st.dump() << c.node_output("dst");
  // Failed, it runs nothing more: a fourth Ping fails without a crash.
  ASSERT_TRUE(put_pings(1));
  EXPECT_TRUE(sink_is({{"state", "failed"}, {"crashed", 3}, {"restarts", 2}, {"FailedInvocations", 4}}))
      << st.dump();
  // Said with the delivery it crashed on.
  EXPECT_TRUE(std::regex_search(c.node_output("dst"),
                                std::regex(R"(\[service=sink rule=\S+ corr=\S* event=\S+\] failed: 1 restarts within )")))
      << c.node_output("dst");
}

TEST(supervision, a_stop_during_a_pending_restart_cancels_it_and_leaves_nothing) {
  // A long backoff, so that the stop lands while the restart is pending.
  // Full jitter may still draw a short one: then let it restart and retry.
  cluster c(two_nodes,
            body("supervision: {max-restarts: 10, within: 300, backoff-base: 60, backoff-cap: 60}\n"));
  c.start();
  bool stopped_while_pending = false;
  for (int attempt = 1; attempt <= 5 && !stopped_while_pending; ++attempt) {
    const auto before = pids_of(c, "two");
    ASSERT_EQ(kill(before.back(), SIGKILL), 0);
    const std::regex scheduled("node two killed by signal 9 \\(Killed\\); restart " + std::to_string(attempt)
                               + " in ([0-9]+) ms");
    std::smatch m;
    std::string out;
    ASSERT_TRUE(wait_until([&] { return std::regex_search(out = c.launcher_output(), m, scheduled); }, 10s)) << out;
    if (std::stoll(m[1].str()) >= 2000) {
      const auto restarts_before = count(out, "restarted node two");
      const int code = c.stop();
      const auto after = c.launcher_output();
      EXPECT_EQ(code, 0) << after;
      EXPECT_NE(after.find("cancelled the pending restart of node two"), std::string::npos) << after;
      EXPECT_EQ(count(after, "restarted node two"), restarts_before) << after;
      EXPECT_TRUE(has(c, "all nodes stopped"));
      EXPECT_FALSE(c.any_process_left());
      for (const pid_t p : pids_of(c, "one"))
        EXPECT_FALSE(alive(p));
      stopped_while_pending = true;
    } else {
      ASSERT_TRUE(wait_until([&] { return pids_of(c, "two").size() > before.size(); }, 10s)) << c.launcher_output();
    }
  }
  EXPECT_TRUE(stopped_while_pending) << "every backoff drawn was too short to stop during it\n" << c.launcher_output();
}

TEST(supervision, nodes_do_not_outlive_a_killed_launcher) {
  cluster c(two_nodes, body(""));
  c.start();
  const pid_t one = pids_of(c, "one").at(0), two = pids_of(c, "two").at(0);
  // The launcher leads the process group its nodes are in.
  const pid_t launcher = getpgid(one);
  ASSERT_GT(launcher, 0);
  ASSERT_NE(launcher, one);
  ASSERT_EQ(kill(launcher, SIGKILL), 0);
  EXPECT_TRUE(wait_until([&] { return !alive(one) && !alive(two); }, 15s))
      << "nodes still running after their launcher was killed";
  c.stop();
}

} // namespace
} // namespace troupe::test
