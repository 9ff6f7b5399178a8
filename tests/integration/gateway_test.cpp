// EventBridge's API as clients nobody here wrote meet it: the AWS CLI
// (Debian's awscli), boto3 (Debian's python3-boto3) and the JavaScript SDK
// (tests/clients/js, pinned in its package-lock.json), each run as its own
// process against a real `troupe gateway` in front of the keyed flight
// cluster (configs/flight.yaml as shipped, on free ports of 127.0.0.1).
// Their bookings must end CONFIRMED with their emails written; what the
// gateway refuses must put nothing. A client that is missing fails its
// case (scripts/setup.sh installs them, scripts/test.sh runs `npm ci`).
// Also: slow clients that never finish a request neither block the others
// nor a stop, and a second gateway cannot take the same port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster/gateway.hpp"
#include "launcher/common.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Debian's, never another on PATH (a pyenv's `aws` or `python3` lacks the
// packages, or is another version).
const char* const aws_cli = "/usr/bin/aws";
const char* const python = "/usr/bin/python3";

/// The node that runs the JavaScript SDK: the machine's, or TROUPE_TEST_NODE
/// (to try another, such as Debian 12's Node 18).
std::string node_bin() {
  const char* n = std::getenv("TROUPE_TEST_NODE");
  return n && *n ? n : "/usr/bin/node";
}

/// A booking's detail as `troupe book` puts it (source troupe.client,
/// detail-type BookingRequested), on TR100, which has room for every case.
std::string booking_detail(const std::string& customer, const std::string& email) {
  return json{{"customer", customer}, {"email", email},      {"flight", "TR100"},
              {"seat_preference", "window"}, {"amount", 249.90}, {"card", "4111111111111111"}}
      .dump();
}

std::string entries_of(const std::string& detail) {
  return json::array({{{"Source", "troupe.client"}, {"DetailType", "BookingRequested"}, {"Detail", detail}}}).dump();
}

/// The flight cluster and `troupe gateway` in front of it, with the
/// config's access key.
class gateway_cluster {
 public:
  /// `gateway_args` go to `troupe gateway` after the config.
  explicit gateway_cluster(std::vector<std::string> gateway_args = {})
      : c_(shipped{"configs/flight.yaml", "", "", ""}) {
    c_.start();
    auto cfg = cli::load_config(c_.config_path());
    if (!cfg || !cfg->gateway || cfg->gateway->access_keys.empty())
      throw std::runtime_error("the test config has no gateway with an access key");
    cfg_ = std::move(*cfg);
    url_ = "http://" + cfg_.gateway->listen;
    const auto& key = cfg_.gateway->access_keys.front();
    key_id_ = key.id;
    auto secret = troupe::cluster::secret_access_key(key.secret);
    if (!secret)
      throw std::runtime_error(secret.err().to_string());
    secret_ = *secret;
    std::vector<std::string> argv{troupe_bin(), "gateway", c_.config_path()};
    argv.insert(argv.end(), gateway_args.begin(), gateway_args.end());
    gateway_ = std::make_unique<background_command>(argv);
    // It says where it listens once it does.
    const auto listening = [&] {
      return gateway_->output().find("EventBridge's API for cluster") != std::string::npos || !gateway_->running();
    };
    if (!wait_until(listening, 30s) || !gateway_->running())
      throw std::runtime_error("troupe gateway did not start:\n" + gateway_->output());
  }

  cluster& c() { return c_; }
  const troupe::cluster::config& cfg() const { return cfg_; }
  const std::string& url() const { return url_; }
  const std::string& key_id() const { return key_id_; }
  const std::string& secret() const { return secret_; }
  std::string gateway_output() const { return gateway_->output(); }
  background_command& gateway() { return *gateway_; }

  /// Runs a client with only the environment it is given: the access key,
  /// the region, and AWS config and credential files that do not exist, so
  /// that nothing of this machine's AWS setup leaks in.
  run_result client(std::vector<std::string> argv, const std::string& key_id, const std::string& secret) const {
    const auto dir = c_.dir();
    std::vector<std::string> cmd{"/usr/bin/env", "-i",
                                 "HOME=" + dir.string(),
                                 "PATH=/usr/bin:/bin",
                                 "LC_ALL=C.UTF-8",
                                 "AWS_ACCESS_KEY_ID=" + key_id,
                                 "AWS_SECRET_ACCESS_KEY=" + secret,
                                 "AWS_DEFAULT_REGION=us-east-1",
                                 "AWS_CONFIG_FILE=" + (dir / "no-aws-config").string(),
                                 "AWS_SHARED_CREDENTIALS_FILE=" + (dir / "no-aws-credentials").string(),
                                 "AWS_EC2_METADATA_DISABLED=true",
                                 "AWS_PAGER="};
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    return run_command(cmd, 120s);
  }
  run_result client(std::vector<std::string> argv) const { return client(std::move(argv), key_id_, secret_); }

  /// `aws events OPERATION --endpoint-url URL ARGS...`
  run_result aws(const std::string& operation, std::vector<std::string> args) const {
    return aws_as(operation, std::move(args), key_id_, secret_);
  }
  run_result aws_as(const std::string& operation, std::vector<std::string> args, const std::string& key_id,
                    const std::string& secret) const {
    std::vector<std::string> argv{aws_cli, "events", operation, "--endpoint-url", url_, "--region", "us-east-1",
                                  "--output", "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return client(argv, key_id, secret);
  }

 private:
  cluster c_;
  troupe::cluster::config cfg_;
  std::string url_, key_id_, secret_;
  std::unique_ptr<background_command> gateway_;
};

/// A client the case needs is there: if not, the case fails (and says how
/// to get it) rather than pass without having run it.
void require_file(const std::string& path, const std::string& how) {
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing: " << how;
}

json parse_output(const run_result& r) {
  auto out = json::parse(r.output, nullptr, false);
  EXPECT_FALSE(out.is_discarded()) << "not JSON: " << r.output;
  return out.is_discarded() ? json::object() : out;
}

/// A script's answer: its last line, one JSON object (a runtime may warn
/// on stderr before it, as the SDK does on Node 18).
json last_line_json(const run_result& r) {
  std::istringstream lines(r.output);
  std::string last;
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{')
      last = line;
  auto out = json::parse(last, nullptr, false);
  EXPECT_TRUE(out.is_object()) << "no JSON line in: " << r.output;
  return out.is_object() ? out : json::object();
}

/// The mails in the cluster's Maildir: each one's headers, by name.
std::vector<std::map<std::string, std::string>> mails(const cluster& c) {
  std::vector<std::map<std::string, std::string>> out;
  const auto dir = c.dir() / "mail" / "new";
  if (!std::filesystem::exists(dir))
    return out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(f.path(), std::ios::binary);
    std::map<std::string, std::string> headers;
    for (std::string line; std::getline(in, line) && line != "\r" && !line.empty();) {
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (const auto colon = line.find(": "); colon != std::string::npos)
        headers[line.substr(0, colon)] = line.substr(colon + 2);
    }
    out.push_back(std::move(headers));
  }
  return out;
}

/// Every booking of `ids` ends CONFIRMED, and its customer's email (the
/// ticket) is written.
void expect_confirmed_and_mailed(gateway_cluster& g, const std::vector<std::string>& ids) {
  json rows;
  EXPECT_TRUE(wait_confirmed(g.cfg(), ids, 60s, rows)) << rows.dump(2);
  std::set<std::string> mailed;
  const std::set<std::string> want(ids.begin(), ids.end());
  EXPECT_TRUE(wait_until(
      [&] {
        for (const auto& m : mails(g.c()))
          if (m.count("X-Troupe-Booking"))
            mailed.insert(m.at("X-Troupe-Booking"));
        return std::includes(mailed.begin(), mailed.end(), want.begin(), want.end());
      },
      60s))
      << "emails for " << mailed.size() << " of the " << ids.size() << " bookings";
}

/// The bookings the booking service holds, in every state.
int bookings_held(const gateway_cluster& g) {
  auto stats = cli::query(g.cfg(), "booking", "stats", json::object(), 10s);
  EXPECT_TRUE(stats) << stats.err().to_string();
  if (!stats)
    return -1;
  return stats->value("CONFIRMED", 0) + stats->value("PENDING", 0) + stats->value("CANCELLED", 0);
}

/// The keys of `v` and of everything in it, values left out: two answers
/// with the same shape have the same keys where each has them.
json shape(const json& v) {
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, x] : v.items())
      out[k] = shape(x);
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& x : v)
      out.push_back(shape(x));
    return out;
  }
  return v.type_name();
}

TEST(gateway, aws_cli_puts_a_booking_that_ends_confirmed_and_prints_what_troupe_put_events_prints) {
  require_file(aws_cli, "install Debian's awscli (scripts/setup.sh does)");
  gateway_cluster g;

  auto put = g.aws("put-events", {"--entries", entries_of(booking_detail("Ada Lovelace", "ada@example.com"))});
  ASSERT_EQ(put.code, 0) << put.output << "\ngateway:\n" << g.gateway_output();
  const auto out = parse_output(put);
  ASSERT_EQ(out.value("FailedEntryCount", -1), 0) << put.output;
  const auto id = out["Entries"][0].value("EventId", "");
  ASSERT_EQ(id.size(), 36u) << put.output;

  // `troupe put-events` prints the AWS CLI's answer: the same keys.
  const auto file = g.c().dir() / "entries.json";
  std::ofstream(file) << entries_of(booking_detail("Grace Hopper", "grace@example.com"));
  auto troupe_put = run_command({troupe_bin(), "put-events", g.c().config_path(), "--entries", "file://" + file.string()}, 60s);
  ASSERT_EQ(troupe_put.code, 0) << troupe_put.output;
  const auto troupe_out = parse_output(troupe_put);
  EXPECT_EQ(shape(troupe_out), shape(out)) << troupe_put.output << "\nvs the AWS CLI's\n" << put.output;
  const auto troupe_id = troupe_out["Entries"][0].value("EventId", "");

  expect_confirmed_and_mailed(g, {id, troupe_id});
  bool ada_mailed = false;
  for (const auto& m : mails(g.c()))
    if (m.count("X-Troupe-Booking") && m.at("X-Troupe-Booking") == id)
      ada_mailed = m.count("To") && m.at("To").find("ada@example.com") != std::string::npos;
  EXPECT_TRUE(ada_mailed);
}

TEST(gateway, aws_cli_tests_patterns_and_lists_the_configs_rules_as_troupe_list_rules_does) {
  require_file(aws_cli, "install Debian's awscli (scripts/setup.sh does)");
  gateway_cluster g;

  const auto event = json{{"id", "e1"},
                          {"account", "000000000000"},
                          {"source", "troupe.client"},
                          {"time", "2026-12-07T10:00:00Z"},
                          {"region", "us-east-1"},
                          {"resources", json::array()},
                          {"detail-type", "BookingRequested"},
                          {"detail", json::parse(booking_detail("Ada", "ada@example.com"))}}
                         .dump();
  struct pattern_case {
    const char* name;
    std::string pattern;
    bool result;
  };
  const std::vector<pattern_case> cases = {
      {"the booking-requests rule's pattern", R"({"detail-type": ["BookingRequested"]})", true},
      {"a numeric range it is outside", R"({"detail": {"amount": [{"numeric": [">", 1000]}]}})", false},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    auto r = g.aws("test-event-pattern", {"--event-pattern", k.pattern, "--event", event});
    ASSERT_EQ(r.code, 0) << r.output;
    const auto out = parse_output(r);
    ASSERT_TRUE(out.contains("Result") && out["Result"].is_boolean()) << r.output;
    EXPECT_EQ(out["Result"].get<bool>(), k.result) << r.output;
  }

  auto list = g.aws("list-rules", {});
  ASSERT_EQ(list.code, 0) << list.output;
  const auto rules = parse_output(list);
  ASSERT_TRUE(rules.contains("Rules")) << list.output;
  std::set<std::string> want;
  for (const auto& r : g.cfg().rules)
    want.insert(r.name);
  std::set<std::string> got;
  for (const auto& r : rules["Rules"]) {
    const auto name = r.value("Name", "");
    got.insert(name);
    EXPECT_EQ(r.value("Arn", ""), "arn:aws:events:us-east-1:000000000000:rule/flight/" + name);
    EXPECT_EQ(r.value("Arn", ""), troupe::cluster::rule_arn(*g.cfg().gateway, g.cfg().cluster, name));
    EXPECT_EQ(r.value("EventBusName", ""), "flight");
    EXPECT_EQ(r.value("State", ""), "ENABLED");
  }
  EXPECT_EQ(got, want);
  EXPECT_TRUE(got.count("booking-requests") && got.count("confirmation-email")) << list.output;

  // `troupe list-rules` prints the same answer, from the config alone.
  auto troupe_list = run_command({troupe_bin(), "list-rules", g.c().config_path()}, 30s);
  ASSERT_EQ(troupe_list.code, 0) << troupe_list.output;
  const auto troupe_rules = parse_output(troupe_list);
  EXPECT_EQ(shape(troupe_rules), shape(rules));
  EXPECT_EQ(troupe_rules, rules);
}

TEST(gateway, boto3_puts_ten_entries_and_only_the_oversized_one_fails) {
  require_file(python, "install Debian's python3 and python3-boto3 (scripts/setup.sh does)");
  gateway_cluster g;
  auto r = g.client({python, source_file("tests/clients/boto3_put_events.py"), g.url(), "batch"});
  ASSERT_EQ(r.code, 0) << r.output << "\ngateway:\n" << g.gateway_output();
  const auto out = last_line_json(r);
  ASSERT_TRUE(out.contains("ids")) << r.output;
  const auto ids = out["ids"].get<std::vector<std::string>>();
  ASSERT_EQ(ids.size(), 9u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 9u);
  // Every answer carries the gateway's time, as RFC 7231 writes it.
  static const std::regex http_date(R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT)");
  EXPECT_TRUE(std::regex_match(out.value("date", ""), http_date)) << out.dump();
  expect_confirmed_and_mailed(g, ids);
  EXPECT_EQ(bookings_held(g), 9);
}

TEST(gateway, javascript_sdk_puts_a_booking_tests_patterns_and_corrects_a_skewed_clock) {
  const auto js = source_file("tests/clients/js");
  require_file(node_bin(), "install Node.js and npm (scripts/setup.sh does)");
  require_file(js + "/node_modules/@aws-sdk/client-eventbridge/package.json",
               "run `npm ci` in tests/clients/js (scripts/test.sh does)");
  gateway_cluster g;
  const auto script = js + "/eventbridge_client.mjs";

  auto r = g.client({node_bin(), script, g.url(), booking_detail("Ada Lovelace", "ada@example.com")});
  ASSERT_EQ(r.code, 0) << r.output << "\ngateway:\n" << g.gateway_output();
  const auto out = last_line_json(r);
  EXPECT_EQ(out.value("match", false), true) << r.output;
  EXPECT_EQ(out.value("noMatch", true), false) << r.output;

  // A client whose clock is 20 minutes slow: its first signature is
  // refused as expired, and it signs again by the answer's Date.
  auto skewed = g.client({node_bin(), script, g.url(), booking_detail("Alan Turing", "alan@example.com"), "-1200"});
  ASSERT_EQ(skewed.code, 0) << skewed.output << "\ngateway:\n" << g.gateway_output();
  const auto late = last_line_json(skewed);
  EXPECT_LT(std::abs(late.value("clockOffsetMs", -1200000.0)), 60000.0) << skewed.output;

  expect_confirmed_and_mailed(g, {out.value("eventId", ""), late.value("eventId", "")});
  EXPECT_EQ(bookings_held(g), 2);
}

TEST(gateway, a_wrong_secret_or_an_unknown_key_is_refused_and_puts_nothing) {
  require_file(aws_cli, "install Debian's awscli (scripts/setup.sh does)");
  gateway_cluster g;
  const auto mallory = entries_of(booking_detail("Mallory", "mallory@example.com"));

  struct refusal {
    const char* name;
    std::string key_id, secret, type;
  };
  std::string wrong = g.secret();
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  const std::vector<refusal> cases = {
      {"the config's key with a wrong secret", g.key_id(), wrong, "InvalidSignatureException"},
      {"a key the config does not list", "AKIAUNKNOWNKEY000001", g.secret(), "UnrecognizedClientException"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    auto r = g.aws_as("put-events", {"--entries", mallory}, k.key_id, k.secret);
    EXPECT_NE(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("(" + k.type + ")"), std::string::npos) << r.output;
  }

  // A booking put after them completes; the refused ones never appear.
  auto put = g.aws("put-events", {"--entries", entries_of(booking_detail("Ada Lovelace", "ada@example.com"))});
  ASSERT_EQ(put.code, 0) << put.output;
  const auto id = parse_output(put)["Entries"][0].value("EventId", "");
  expect_confirmed_and_mailed(g, {id});
  EXPECT_EQ(bookings_held(g), 1);
  for (const auto& m : mails(g.c()))
    EXPECT_EQ(m.count("To") ? m.at("To").find("mallory") : std::string::npos, std::string::npos);
  // The gateway said so in its log.
  EXPECT_NE(g.gateway_output().find("refused a request from 127.0.0.1"), std::string::npos) << g.gateway_output();
}

TEST(gateway, the_same_idempotency_key_twice_puts_once) {
  require_file(python, "install Debian's python3 and python3-boto3 (scripts/setup.sh does)");
  gateway_cluster g;
  auto r = g.client({python, source_file("tests/clients/boto3_put_events.py"), g.url(), "idempotent", "ida-1"});
  ASSERT_EQ(r.code, 0) << r.output << "\ngateway:\n" << g.gateway_output();
  const auto out = last_line_json(r);
  const auto first = out.value("first", "");
  EXPECT_EQ(first.size(), 36u) << r.output;
  EXPECT_EQ(out.value("second", ""), first) << r.output;
  expect_confirmed_and_mailed(g, {first});
  EXPECT_EQ(bookings_held(g), 1);
  auto status = cli::status(g.cfg(), *g.cfg().find_node("booking"), 5s);
  ASSERT_TRUE(status);
  EXPECT_GE((*status)["bus"].value("idempotent_repeats", 0), 1) << status->dump();
  std::size_t ida_mails = 0;
  for (const auto& m : mails(g.c()))
    ida_mails += m.count("To") && m.at("To").find("ida@example.com") != std::string::npos;
  EXPECT_EQ(ida_mails, 1u);
}

/// Connections to the gateway that send a byte of a request's head every
/// half second and never finish it, as a slow-read attack does.
class dripping_clients {
 public:
  dripping_clients(const std::string& host, int port, int count) {
    for (int i = 0; i < count; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      inet_pton(AF_INET, host.c_str(), &a.sin_addr);
      if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("cannot connect to the gateway");
      send(fd, "POST / HTTP/1.1\r\n", 17, MSG_NOSIGNAL);
      fds_.push_back(fd);
    }
    thread_ = std::thread([this] {
      while (!stop_) {
        std::this_thread::sleep_for(500ms);
        for (int fd : fds_)
          send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    });
  }
  ~dripping_clients() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_)
      close(fd);
  }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(gateway, clients_that_never_finish_a_request_are_cut_and_do_not_hold_up_the_others_or_a_stop) {
  require_file(aws_cli, "install Debian's awscli (scripts/setup.sh does)");
  // Four worker threads, and connections cut after 3 s: six slow clients
  // would hold every thread for ever without the cut.
  gateway_cluster g({"--threads", "4", "--max-connection-age", "3"});
  const auto listen = troupe::cluster::parse_listen(g.cfg().gateway->listen);
  ASSERT_TRUE(listen);
  auto slow = std::make_unique<dripping_clients>(listen->host, listen->port, 6);
  std::this_thread::sleep_for(1s);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = g.aws("list-rules", {"--cli-read-timeout", "20", "--cli-connect-timeout", "20"});
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.code, 0) << r.output << "\ngateway:\n" << g.gateway_output();
  EXPECT_NE(r.output.find("booking-requests"), std::string::npos) << r.output;
  EXPECT_LT(waited, 15s) << "a signed call waited behind the slow clients";

  // A stop is not held up by a client that never finishes: new slow
  // clients, then SIGTERM.
  slow = std::make_unique<dripping_clients>(listen->host, listen->port, 3);
  std::this_thread::sleep_for(500ms);
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(g.gateway().pid(), SIGTERM), 0);
  const auto stopped = g.gateway().wait(20s);
  EXPECT_EQ(stopped.code, 0) << stopped.output;
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 5s) << "SIGTERM waited for the slow clients";
}

TEST(gateway, a_second_gateway_on_the_same_port_is_refused) {
  gateway_cluster g;
  // SO_REUSEPORT would let it bind and take half the calls.
  auto second = run_command({troupe_bin(), "gateway", g.c().config_path()}, 20s);
  EXPECT_EQ(second.code, 1) << second.output;
  EXPECT_NE(second.output.find("cannot listen"), std::string::npos) << second.output;
}

} // namespace
} // namespace troupe::test
