// The command line as a user meets it: bad arguments, bad configs, a node
// that cannot bind, a node that dies under the launcher.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;

std::string source_root() {
  const char* root = std::getenv("TROUPE_SOURCE_ROOT");
  return root ? root : ".";
}

void no_stack_trace(const std::string& out) {
  EXPECT_EQ(out.find("terminate called"), std::string::npos) << out;
  EXPECT_EQ(out.find("what():"), std::string::npos) << out;
  EXPECT_EQ(out.find("Aborted"), std::string::npos) << out;
}

// CLI11's exit codes for a command line it refuses.
constexpr int validation_error = 105;  // a value out of its domain, a file that does not exist
constexpr int required_error = 106;    // a subcommand or argument missing

TEST(cli, bad_arguments_say_what_is_wrong) {
  struct bad_args {
    std::vector<std::string> args;
    int code;          // the exit code, exactly
    std::string says;  // what the output must say
  };
  const std::string flight = source_root() + "/configs/flight.yaml";
  const std::vector<bad_args> cases = {
      {{}, required_error, "A subcommand is required"},
      // CLI11 checks for a subcommand before it looks at extra words, so an
      // unknown command is reported as a missing one.
      {{"frobnicate"}, required_error, "A subcommand is required"},
      {{"launch"}, required_error, "config is required"},
      {{"check", "/nonexistent.yaml"}, validation_error, "File does not exist: /nonexistent.yaml"},
      {{"book", flight, "--count", "-3"}, validation_error, "--count: Value -3 not in range"},
      {{"book", flight, "--seat", "middle"}, validation_error, "--seat: middle not in {window,aisle,any}"},
      {{"bookings", flight, "--format", "xml"}, validation_error, "--format: xml not in {table,json}"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{troupe_bin()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string line;
    for (const auto& a : c.args)
      line += " " + a;
    auto r = run_command(argv, 10s);
    EXPECT_EQ(r.signal, 0) << "troupe" << line << " was killed by signal " << r.signal << "\n" << r.output;
    EXPECT_EQ(r.code, c.code) << "troupe" << line << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << "troupe" << line << "\n" << r.output;
    no_stack_trace(r.output);
  }
}

TEST(cli, the_shipped_config_is_valid) {
  // As shipped, its keys are made on first run: without them every
  // missing one is named, with the command that makes them.
  temp_dir dir;
  std::filesystem::create_directories(dir.path() / "configs");
  std::filesystem::copy_file(source_root() + "/configs/flight.yaml", dir.path() / "configs" / "flight.yaml");
  const auto file = (dir.path() / "configs" / "flight.yaml").string();
  auto missing = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("flight.yaml:14:22: nodes.booking.public-key-file: cannot read "), std::string::npos)
      << missing.output;
  EXPECT_NE(missing.output.find("troupe keygen --config"), std::string::npos) << missing.output;
  auto made = run_command({troupe_bin(), "keygen", "--config", file}, 10s);
  EXPECT_EQ(made.code, 0) << made.output;
  EXPECT_NE(made.output.find("9 key pairs made, 0 already there"), std::string::npos) << made.output;
  auto r = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ok (6 nodes, 8 rules, CurveZMQ on every socket, 3 clients)"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("OPEN"), std::string::npos) << r.output;
}

TEST(cli, an_open_config_is_said_to_be_open_and_one_open_beyond_loopback_is_refused) {
  temp_dir dir;
  const auto file = (dir.path() / "open.yaml").string();
  const auto write = [&](const std::string& host) {
    std::ofstream(file) << "cluster: o\nnodes:\n  one:\n    endpoints: {pub: \"tcp://" << host
                        << ":" << 7000 << "\", control: \"tcp://127.0.0.1:7001\"}\n    services: [sink]\n"
                        << "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: sink}\n";
  };
  write("127.0.0.1");
  auto ok = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("ok (1 nodes, 1 rules, OPEN)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("WARNING: the cluster 'o' is OPEN"), std::string::npos) << ok.output;
  write("0.0.0.0");
  auto refused = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("open.yaml:4:22: nodes.one.endpoints.pub: 'tcp://0.0.0.0:7000' is reachable from "
                                "other machines"),
            std::string::npos)
      << refused.output;
  no_stack_trace(refused.output);
}

TEST(cli, a_bad_config_lists_every_problem_and_starts_nothing) {
  temp_dir tmp;
  const auto path = (tmp.path() / "bad.yaml").string();
  std::ofstream(path) << R"(cluster: bad
nodes:
  booking:
    endpoints: {pub: "tcp://127.0.0.1:1", control: "tcp://127.0.0.1:1"}
    services: [booking, flying-carpet]
services:
  seat:
    flights: {TR1: {rows: 0, layout: "AB"}}
rules:
  - name: r
    pattern: {"detail-type": "BookingRequested"}
    target: nobody
)";
  for (const char* cmd : {"check", "launch"}) {
    auto r = run_command({troupe_bin(), cmd, path}, 10s);
    EXPECT_EQ(r.code, 2) << r.output;
    for (const char* want : {":4:", ":5:", ":7:", ":11:", ":12:"})
      EXPECT_NE(r.output.find(path + want), std::string::npos) << want << " in\n" << r.output;
    EXPECT_NE(r.output.find("nothing started"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("started node"), std::string::npos) << r.output;
    // Every problem line is file:line:column: reason.
    std::istringstream lines(r.output);
    std::string line;
    std::size_t problems = 0;
    while (std::getline(lines, line))
      if (line.rfind(path, 0) == 0) {
        EXPECT_TRUE(std::regex_search(line, std::regex("^" + path + ":[0-9]+:[0-9]+: .+"))) << line;
        ++problems;
      }
    EXPECT_GE(problems, 5u) << r.output;
  }
}

const std::map<std::string, std::vector<std::string>> one_node = {{"solo", {"ticket"}}};
const char* ticket_rules = "rules:\n  - {name: t, pattern: {\"detail-type\": [\"SeatAssigned\"]}, target: ticket}\n";

TEST(cli, a_node_that_cannot_bind_says_so) {
  cluster c(one_node, ticket_rules);
  c.start();
  // A second copy of the same node finds its store taken, before it would
  // write to it, and says by whom.
  auto r = run_command({troupe_bin(), "node", c.config_path(), "--node", "solo"}, 20s);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is in use by another process (pid "), std::string::npos) << r.output;
  no_stack_trace(r.output);
  // The same node with a store of its own finds its ports taken.
  std::ifstream in(c.config_path());
  const std::string moved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_NE(moved.find("data-dir:"), std::string::npos);
  const auto other = c.dir() / "other.yaml";
  std::ofstream(other) << std::regex_replace(moved, std::regex("data-dir: *[^\\n]*"),
                                             "data-dir: " + (c.dir() / "other-data").string());
  auto ports = run_command({troupe_bin(), "node", other.string(), "--node", "solo"}, 20s);
  EXPECT_EQ(ports.code, 1) << ports.output;
  EXPECT_NE(ports.output.find("cannot set up sockets"), std::string::npos) << ports.output;
  no_stack_trace(ports.output);
  auto unknown = run_command({troupe_bin(), "node", c.config_path(), "--node", "nobody"}, 10s);
  EXPECT_EQ(unknown.code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("no node 'nobody'"), std::string::npos) << unknown.output;
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

TEST(cli, the_launcher_reports_a_node_that_dies) {
  cluster c({{"one", {"ticket"}}, {"two", {"seat"}}},
            "supervision: {max-restarts: 0}\nservices:\n  seat:\n    flights: {F: {rows: 1, layout: \"AB\"}}\n" +
                std::string(ticket_rules));
  c.start();
  auto out = c.launcher_output();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("started node two \\(pid ([0-9]+)\\)"))) << out;
  const pid_t pid = std::stoi(m[1].str());
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return c.launcher_output().find("node two killed by signal 9") != std::string::npos; },
                         10s))
      << c.launcher_output();
  // With no restarts allowed the node is failed; the launcher goes on with
  // the other node and stops it cleanly, exiting 1 for the failed one.
  EXPECT_EQ(c.stop(), 1) << "a node failed, so the launch did not end cleanly";
  EXPECT_FALSE(c.any_process_left());
  EXPECT_NE(c.launcher_output().find("all nodes stopped"), std::string::npos);
}

TEST(cli, probe_says_ready_only_while_the_node_that_said_so_runs) {
  cluster c({{"one", {"sink"}}}, "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: sink}\n");
  const auto probe = [&] { return run_command({troupe_bin(), "probe", c.config_path(), "--node", "one"}, 10s); };
  auto before = probe();
  EXPECT_EQ(before.code, 1) << before.output;
  EXPECT_NE(before.output.find("node one is not ready: no ready marker"), std::string::npos) << before.output;
  auto unknown = run_command({troupe_bin(), "probe", c.config_path(), "--node", "two"}, 10s);
  EXPECT_EQ(unknown.code, 2) << unknown.output;

  c.start_node("one");
  ASSERT_TRUE(wait_until([&] { return probe().code == 0; }, 20s)) << c.node_output("one");
  EXPECT_NE(probe().output.find("node one is ready (pid "), std::string::npos);
  c.signal_node("one", SIGTERM);
  EXPECT_EQ(c.wait_node("one"), 0) << c.node_output("one");
  auto stopped = probe();
  EXPECT_EQ(stopped.code, 1) << stopped.output;
  EXPECT_FALSE(std::filesystem::exists(c.node_data_dir("one") / "ready"));

  // Killed, it leaves its marker, which speaks for nobody.
  c.start_node("one");
  ASSERT_TRUE(wait_until([&] { return probe().code == 0; }, 20s)) << c.node_output("one");
  c.signal_node("one", SIGKILL);
  c.wait_node("one");
  EXPECT_TRUE(std::filesystem::exists(c.node_data_dir("one") / "ready"));
  auto killed = probe();
  EXPECT_EQ(killed.code, 1) << killed.output;
  EXPECT_NE(killed.output.find(") is gone"), std::string::npos) << killed.output;
}

TEST(cli, test_pattern_answers_like_test_event_pattern) {
  const std::string pattern = R"({"detail-type": ["A"], "detail": {"n": [{"numeric": [">", 3]}]}})";
  auto yes = run_command({troupe_bin(), "test-pattern", "--pattern", pattern, "--event",
                          R"({"detail-type": "A", "detail": {"n": 4}})"},
                         10s);
  EXPECT_EQ(yes.code, 0) << yes.output;
  EXPECT_NE(yes.output.find("match"), std::string::npos);
  auto no = run_command({troupe_bin(), "test-pattern", "--pattern", pattern, "--event",
                         R"({"detail-type": "A", "detail": {"n": 3}})"},
                        10s);
  EXPECT_EQ(no.code, 1) << no.output;
  EXPECT_NE(no.output.find("no match"), std::string::npos);
  auto bad = run_command({troupe_bin(), "test-pattern", "--pattern", R"({"detail-type": "A"})", "--event", "{}"}, 10s);
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("detail-type"), std::string::npos) << bad.output;
}

} // namespace
} // namespace troupe::test
