// The nodes' log lines as an operator reads them: with `--log-format
// json`, every line of a launched flight cluster parses as one object
// with its time in UTC, and the lines about one booking, on every node and
// service it passes, carry its correlation id; text lines have UTC times
// too; and a node whose stdout is the journal opens each line with its
// priority. The processes run with TZ five hours off UTC, so that a local
// time would show.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// Sets an environment variable for its scope (for the processes started
/// in it, which inherit it), and puts back what was there.
class scoped_env {
 public:
  scoped_env(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str()))
      old_ = old;
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// POSIX TZ: a zone named XXX five hours behind UTC, no tz database needed.
constexpr const char* off_utc = "XXX5";

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// "2025-03-01T09:14:03.512Z" read as UTC, in ms since the epoch; nullopt
/// for anything else.
std::optional<long long> utc_ms(const std::string& t) {
  static const std::regex shape(R"((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z)");
  std::smatch m;
  if (!std::regex_match(t, m, shape))
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  return static_cast<long long>(::timegm(&tm)) * 1000 + std::stoi(m[7]);
}

/// Whether `t` is a UTC time between `from` and `to` (ms since the epoch),
/// a second of slack either side for the clock's granularity.
bool utc_between(const std::string& t, long long from, long long to) {
  const auto ms = utc_ms(t);
  return ms && *ms >= from - 1000 && *ms <= to + 1000;
}

const std::set<std::string> levels = {"trace", "debug", "info", "warning", "error", "critical"};

// Payment refuses Mallory's bookings for good: warnings and errors to see.
const char* poison_mallory = "faults:\n  payment: {poison: {\"detail\": {\"customer\": [{\"prefix\": \"Mallory\"}]}}}\n";

/// Puts one booking per (customer, card) on the booking node; their ids.
std::vector<std::string> book(cluster& c, const std::vector<std::pair<std::string, std::string>>& bookings) {
  wire::client client(c.control("booking"), c.curve("booking"));
  wire::control_request req;
  req.verb = "put";
  for (const auto& [customer, card] : bookings) {
    json d{{"customer", customer}, {"email", "x@example.com"},   {"flight", "TR100"},
           {"seat_preference", "any"}, {"amount", 120}, {"card", card}};
    std::string detail;
    json::to_msgpack(d, detail);
    req.entries.push_back({"test", "BookingRequested", detail, "", {}, {}});
  }
  auto rep = client.call(req, 10s);
  std::vector<std::string> ids;
  if (rep && rep->ok)
    for (const auto& r : rep->results)
      ids.push_back(r.id);
  return ids;
}

/// The launcher's output, every line as JSON (a line that is not an
/// object fails the test, and is left out).
std::vector<json> json_lines(const std::string& output) {
  std::vector<json> out;
  for (const auto& line : lines_of(output)) {
    auto j = json::parse(line, nullptr, false);  // invalid UTF-8 does not parse either
    EXPECT_TRUE(j.is_object()) << "not a JSON object: " << line;
    if (j.is_object())
      out.push_back(std::move(j));
  }
  return out;
}

bool has_line(const std::string& output, const std::function<bool(const json&)>& pred) {
  for (const auto& line : lines_of(output)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && pred(j))
      return true;
  }
  return false;
}

/// j[key] when it is a string, else "".
std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

TEST(logs, json_lines_all_parse_and_a_bookings_lines_carry_its_correlation_id) {
  const scoped_env tz("TZ", off_utc);
  cluster c(shipped{"configs/flight.yaml", poison_mallory, "", ""});
  const auto from = now_ms();
  c.start({"--log-format", "json"});
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  const auto ids = book(c, {{"Ada Lovelace", "4111111111111111"},
                            {"Bob Declined", "4000000000000002"},
                            {"Mallory Smith", "4111111111111111"}});
  ASSERT_EQ(ids.size(), 3u) << c.launcher_output();
  const auto &ada = ids[0], &bob = ids[1], &mallory = ids[2];
  json rows;
  const bool settled = wait_until(
      [&] {
        auto r = cli::query(*cfg, "booking", "bookings", json{{"ids", json::array({ada, bob})}}, 5s);
        if (!r)
          return false;
        rows = *r;
        std::map<std::string, std::string> state;
        for (const auto& row : rows)
          state[str(row, "id")] = str(row, "state");
        return state[ada] == "CONFIRMED" && state[bob] == "CANCELLED";
      },
      60s);
  ASSERT_TRUE(settled) << rows.dump() << "\n" << c.launcher_output();
  // The last steps: Ada's email, and Mallory's booking given up on.
  const auto logged = [&](const std::string& corr, const std::string& service, const std::string& level) {
    return wait_until(
        [&] {
          return has_line(c.launcher_output(), [&](const json& j) {
            return str(j, "correlation_id") == corr && str(j, "service") == service && str(j, "level") == level;
          });
        },
        60s);
  };
  ASSERT_TRUE(logged(ada, "notification", "info")) << c.launcher_output();
  ASSERT_TRUE(logged(mallory, "payment", "error")) << c.launcher_output();
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  const auto to = now_ms();

  const auto output = c.launcher_output();
  const auto lines = json_lines(output);
  ASSERT_FALSE(lines.empty());
  std::set<std::string> node_names{"launch"};
  for (const auto& n : cfg->nodes)
    node_names.insert(n.name);
  std::map<std::string, std::set<std::string>> nodes_of, services_of;  // by correlation id
  std::set<std::string> seen_nodes;
  for (const auto& j : lines) {
    const auto line = j.dump();
    for (const char* key : {"time", "level", "node", "message"})
      ASSERT_TRUE(j.contains(key) && j[key].is_string()) << key << " in " << line;
    EXPECT_TRUE(utc_between(str(j, "time"), from, to)) << line;
    EXPECT_EQ(levels.count(str(j, "level")), 1u) << line;
    EXPECT_EQ(node_names.count(str(j, "node")), 1u) << line;
    seen_nodes.insert(str(j, "node"));
    for (const char* key : {"service", "rule", "correlation_id", "event"}) {
      if (j.contains(key)) {
        EXPECT_TRUE(j[key].is_string() && !str(j, key).empty()) << key << " in " << line;
      }
    }
    if (j.contains("attempt")) {
      EXPECT_TRUE(j["attempt"].is_number_unsigned()) << line;
    }
    const auto corr = str(j, "correlation_id");
    if (!corr.empty()) {
      nodes_of[corr].insert(str(j, "node"));
      if (j.contains("service"))
        services_of[corr].insert(str(j, "service"));
    }
    // A line that names one of these bookings is about it: it carries its id.
    for (const auto& id : ids) {
      if (str(j, "message").find(id) != std::string::npos || str(j, "event") == id) {
        EXPECT_EQ(corr, id) << line;
      }
    }
  }
  EXPECT_EQ(seen_nodes, node_names) << "every node and the launcher logged";

  // Ada's booking went through every service of the saga, on their nodes.
  EXPECT_EQ(services_of[ada], (std::set<std::string>{"booking", "payment", "seat", "ticket", "notification"}))
      << output;
  EXPECT_GE(nodes_of[ada].size(), 2u) << output;
  // Bob's card was declined: payment said so, booking cancelled it.
  EXPECT_TRUE(services_of[bob].count("payment") && services_of[bob].count("booking")) << output;
  // Mallory's was refused for good: a warning for the failure, an error
  // for the dead letter, each with the rule and the event.
  std::set<std::string> mallory_levels;
  for (const auto& j : lines)
    if (str(j, "correlation_id") == mallory && str(j, "level") != "info") {
      mallory_levels.insert(str(j, "level"));
      EXPECT_EQ(str(j, "service"), "payment") << j.dump();
      EXPECT_FALSE(str(j, "rule").empty()) << j.dump();
      EXPECT_FALSE(str(j, "event").empty()) << j.dump();
    }
  EXPECT_EQ(mallory_levels, (std::set<std::string>{"warning", "error"})) << output;
}

const std::map<std::string, std::vector<std::string>> two_nodes = {{"one", {"ticket"}}, {"two", {"seat"}}};
const char* two_nodes_body =
    "services:\n  seat:\n    flights: {F: {rows: 1, layout: \"AB\"}}\n"
    "rules:\n  - {name: t, pattern: {\"detail-type\": [\"SeatAssigned\"]}, target: ticket}\n";

// NAME | TIME LEVEL [node=NAME] MESSAGE
const std::regex text_line(R"((\S+) +\| (\S+) (\S+) \[node=(\S+)\] .*)");

TEST(logs, text_lines_have_utc_times_too) {
  const scoped_env tz("TZ", off_utc);
  cluster c(two_nodes, two_nodes_body);
  const auto from = now_ms();
  c.start();
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
  const auto to = now_ms();
  const auto lines = lines_of(c.launcher_output());
  ASSERT_FALSE(lines.empty());
  std::set<std::string> nodes;
  for (const auto& line : lines) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, text_line)) << line;
    EXPECT_EQ(m[1].str(), m[4].str()) << line;
    EXPECT_TRUE(utc_between(m[2].str(), from, to)) << line;
    EXPECT_EQ(levels.count(m[3].str()), 1u) << line;
    nodes.insert(m[1].str());
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"launch", "one", "two"}));
}

/// "DEVICE:INODE" of `path`, as systemd puts it in $JOURNAL_STREAM.
std::string stream_id(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return "";
  return std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
         std::to_string(static_cast<unsigned long long>(st.st_ino));
}

TEST(logs, a_node_whose_stdout_is_the_journal_opens_each_line_with_its_priority) {
  const scoped_env tz("TZ", off_utc);
  // Open, so that each node starts with a warning (the cluster has no keys).
  cluster c(two_nodes, two_nodes_body, "", keys::off);
  // start_node appends to <dir>/NAME.log: made first, so that its inode is known.
  const auto one_log = c.dir() / "one.log";
  ::close(::open(one_log.c_str(), O_WRONLY | O_CREAT, 0644));
  const auto journal = stream_id(one_log);
  ASSERT_FALSE(journal.empty());
  {
    // As systemd runs it: stdout is the stream named; JSON from the environment.
    const scoped_env stream("JOURNAL_STREAM", journal), format("TROUPE_LOG_FORMAT", "json");
    c.start_node("one");
  }
  {
    // It inherited the variable, but its stdout is another file (as a
    // node under `troupe launch` has a pipe): no priorities.
    const scoped_env stream("JOURNAL_STREAM", journal);
    c.start_node("two");
  }
  ASSERT_TRUE(c.node_answers("one", 20s)) << c.node_output("one");
  ASSERT_TRUE(c.node_answers("two", 20s)) << c.node_output("two");
  c.signal_node("one", SIGTERM);
  c.signal_node("two", SIGTERM);
  EXPECT_EQ(c.wait_node("one"), 0) << c.node_output("one");
  EXPECT_EQ(c.wait_node("two"), 0) << c.node_output("two");

  const std::map<std::string, std::string> priority = {{"trace", "7"},   {"debug", "7"}, {"info", "6"},
                                                       {"warning", "4"}, {"error", "3"}, {"critical", "2"}};
  const std::regex prefixed(R"(<([0-7])>(\{.*))");
  std::set<std::string> seen;
  const auto one = lines_of(c.node_output("one"));
  ASSERT_FALSE(one.empty());
  for (const auto& line : one) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, prefixed)) << line;
    const auto j = json::parse(m[2].str(), nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(str(j, "node"), "one") << line;
    EXPECT_EQ(priority.at(str(j, "level")), m[1].str()) << line;
    seen.insert(m[1].str());
  }
  EXPECT_EQ(seen, (std::set<std::string>{"4", "6"})) << "the open cluster's warning <4>, ready and stopping <6>";

  const auto two = lines_of(c.node_output("two"));
  ASSERT_FALSE(two.empty());
  for (const auto& line : two) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, std::regex(R"((\S+) (\S+) \[node=two\] .*)"))) << line;
    EXPECT_TRUE(utc_ms(m[1].str())) << line;
  }
}

}  // namespace
}  // namespace troupe::test
