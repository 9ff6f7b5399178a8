// A node as an engine runs it: `troupe node` named by TROUPE_NODE under a
// stand-in for systemd that listens on $NOTIFY_SOCKET, and `troupe launch
// --host` starting one host's nodes only.
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;

const std::map<std::string, std::vector<std::string>> two_nodes = {{"one", {"ticket"}}, {"two", {"seat"}}};
const char* body =
    "services:\n  seat:\n    flights: {F: {rows: 1, layout: \"AB\"}}\n"
    "rules:\n  - {name: t, pattern: {\"detail-type\": [\"SeatAssigned\"]}, target: ticket}\n";

/// The datagram socket systemd gives a Type=notify service.
class notify_socket {
 public:
  explicit notify_socket(const std::filesystem::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot bind " + path.string());
  }
  ~notify_socket() {
    close(fd_);
    std::filesystem::remove(path_);
  }
  /// The next message, or "" after `timeout`.
  std::string next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1)
      return "";
    char buf[4096];
    const auto n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }
  /// Messages until one contains `what`, `timeout` at most; all of them.
  std::vector<std::string> until(const std::string& what, std::chrono::milliseconds timeout) {
    std::vector<std::string> seen;
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      auto m = next(std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()));
      if (m.empty())
        break;
      seen.push_back(m);
      if (m.find(what) != std::string::npos)
        break;
    }
    return seen;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

bool has(const std::vector<std::string>& ms, const std::string& what) {
  return std::any_of(ms.begin(), ms.end(), [&](const std::string& m) { return m.find(what) != std::string::npos; });
}

TEST(engine, a_node_tells_systemd_it_is_ready_alive_and_stopping) {
  cluster c(two_nodes, body);
  notify_socket sd(c.dir() / "notify");
  // WatchdogSec=0.4: WATCHDOG=1 every 200 ms while its loop turns.
  background_command node({"/usr/bin/env", "NOTIFY_SOCKET=" + (c.dir() / "notify").string(), "WATCHDOG_USEC=400000",
                           "TROUPE_NODE=two", troupe_bin(), "node", c.config_path()});
  auto before = sd.until("READY=1", 30s);
  ASSERT_TRUE(has(before, "READY=1")) << node.output();
  // Ready means bound and serving: its control socket answers at once.
  EXPECT_TRUE(c.node_answers("two", 2s)) << node.output();
  EXPECT_TRUE(has(before, "STATUS=serving seat on ")) << before.back();
  EXPECT_FALSE(has(before, "WATCHDOG=1"));  // nothing before it is ready
  int beats = 0;
  const auto end = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < end)
    if (sd.next(500ms) == "WATCHDOG=1")
      ++beats;
  EXPECT_GE(beats, 4) << "WATCHDOG=1 every 200 ms, for 1.5 s";
  EXPECT_LE(beats, 9);
  ASSERT_TRUE(node.running());
  // The node is `two` by TROUPE_NODE alone, and the other node is not running.
  EXPECT_NE(node.output().find("ready: services [seat]"), std::string::npos) << node.output();
  EXPECT_FALSE(c.node_answers("one", 300ms));
  // SIGTERM: STOPPING=1, then a clean exit.
  run_command({"/usr/bin/pkill", "-TERM", "-f", "--", "node " + c.config_path()}, 10s);
  auto after = sd.until("STOPPING=1", 10s);
  EXPECT_TRUE(has(after, "STOPPING=1"));
  EXPECT_EQ(node.wait(20s).code, 0) << node.output();
}

TEST(engine, a_node_outside_systemd_and_without_a_name_is_told_what_to_give) {
  cluster c(two_nodes, body);
  auto r = run_command({"/usr/bin/env", "-u", "TROUPE_NODE", troupe_bin(), "node", c.config_path()}, 20s);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--node"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TROUPE_NODE"), std::string::npos) << r.output;
}

TEST(engine, launch_starts_only_the_nodes_of_the_host_it_is_given) {
  cluster c(two_nodes, body);
  {
    std::ifstream in(c.config_path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(c.config_path());
    out << std::regex_replace(std::regex_replace(text, std::regex("\n  one:\n"), "\n  one:\n    host: alpha\n"),
                              std::regex("\n  two:\n"), "\n  two:\n    host: beta\n");
  }
  // Two hosts: launch will not start them all on one machine.
  auto all = run_command({troupe_bin(), "launch", c.config_path()}, 20s);
  EXPECT_EQ(all.code, 2) << all.output;
  EXPECT_NE(all.output.find("the config spreads its nodes over the hosts alpha, beta: start one host's nodes with "
                            "--host NAME"),
            std::string::npos)
      << all.output;
  auto unknown = run_command({troupe_bin(), "launch", c.config_path(), "--host", "gamma"}, 20s);
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.output.find("no node runs on host 'gamma' (the config's hosts: alpha, beta)"), std::string::npos)
      << unknown.output;
  background_command beta({troupe_bin(), "launch", c.config_path(), "--host", "beta"});
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (beta.output().find("all 1 nodes ready") == std::string::npos && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(100ms);
  EXPECT_NE(beta.output().find("all 1 nodes ready"), std::string::npos) << beta.output();
  EXPECT_TRUE(c.node_answers("two", 5s));
  EXPECT_FALSE(c.node_answers("one", 500ms));
  EXPECT_EQ(beta.output().find("started node one"), std::string::npos) << beta.output();
}

} // namespace
} // namespace troupe::test
