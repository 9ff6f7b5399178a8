// The control protocol as another team meets it: examples/python/troupe_put.py,
// written from docs/PROTOCOL.md alone with Debian's python3-zmq and
// python3-msgpack, against the keyed flight cluster (configs/flight.yaml as
// shipped, run by `troupe launch`). Its booking must end CONFIRMED; each way
// a node turns a client away must end in the exit code the example
// promises; and the bytes it sends must be the page's worked example.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/support/doc_bytes.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Debian's, which has python3-zmq and python3-msgpack (another python3 on
// PATH may not).
const char* const python = "/usr/bin/python3";

const char* const ada = R"({"customer": "Ada Lovelace", "email": "ada@example.com", "flight": "TR100",
                            "seat_preference": "window", "amount": 249.90, "card": "4111111111111111"})";

/// The example's exit codes.
constexpr int entry_refused = 1, request_refused = 3, no_reply = 4;

/// Runs the example against `node` as `client`, with the key files the
/// cluster made (the node's public key, the client's secret key); `args`
/// follow the global options.
run_result example(const cluster& c, const std::string& node, const std::string& client,
                   std::vector<std::string> args, std::vector<std::string> options = {}) {
  const auto keys = c.dir() / "keys";
  std::vector<std::string> argv{python, source_file("examples/python/troupe_put.py"),
                                "--endpoint", c.control(node),
                                "--server-key", (keys / (node + ".pub")).string(),
                                "--client-key", (keys / (client + ".key")).string()};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, 60s);
}

std::vector<std::string> put_args(const std::string& source, const std::string& detail_type,
                                  const std::string& detail, std::vector<std::string> more = {}) {
  std::vector<std::string> a{"put", "--source", source, "--detail-type", detail_type, "--detail", detail};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

TEST(protocol, python_example_puts_a_booking_that_ends_confirmed) {
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // `shop` is the config's producer for source troupe.client.
  auto put = example(c, "booking", "shop", put_args("troupe.client", "BookingRequested", ada,
                                                    {"--idempotency-key", "ada-1"}));
  ASSERT_EQ(put.code, 0) << put.output;
  const auto id = trimmed(put.output);
  ASSERT_EQ(id.size(), 36u) << "not an event id: " << put.output;

  // The saga runs to its end: CONFIRMED, the card being good and TR100 big.
  json booking = json::object();
  ASSERT_TRUE(wait_until(
      [&] {
        auto rows = cli::query(*cfg, "booking", "bookings", json{{"ids", {id}}}, 5s);
        if (rows && rows->size() == 1)
          booking = (*rows)[0];
        return booking.value("state", "PENDING") != "PENDING";
      },
      60s))
      << booking.dump();
  EXPECT_EQ(booking.value("state", ""), "CONFIRMED") << booking.dump();
  EXPECT_EQ(booking.value("customer", ""), "Ada Lovelace");
  EXPECT_EQ(booking.value("flight", ""), "TR100");

  // A client that timed out sends the same entry with the same key again:
  // it gets the same id, and nothing is booked twice.
  auto again = example(c, "booking", "shop", put_args("troupe.client", "BookingRequested", ada,
                                                      {"--idempotency-key", "ada-1"}));
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(trimmed(again.output), id);
  auto stats = cli::query(*cfg, "booking", "stats", json::object(), 10s);
  ASSERT_TRUE(stats) << stats.err().to_string();
  EXPECT_EQ(stats->value("CONFIRMED", 0) + stats->value("PENDING", 0) + stats->value("CANCELLED", 0), 1)
      << stats->dump();

  // `status` needs the reader role, which `auditor` has.
  auto status = example(c, "booking", "auditor", {"status"});
  ASSERT_EQ(status.code, 0) << status.output;
  const auto body = json::parse(status.output, nullptr, false);
  ASSERT_TRUE(body.is_object()) << status.output;
  EXPECT_EQ(body.value("node", ""), "booking");
  EXPECT_GE(body["bus"].value("idempotent_repeats", 0), 1) << status.output;
}

struct refusal_case {
  const char* name;
  std::string node, client;
  std::vector<std::string> args;
  int code;
  const char* says;  // on stderr
};

TEST(protocol, python_example_exits_with_the_code_of_each_refusal) {
  cluster c(shipped{"configs/flight.yaml", "", "", ""});
  c.stranger_keys("stranger");  // a key pair the config does not list
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto refused_keys = [&] {
    auto s = cli::status(*cfg, *cfg->find_node("booking"), 5s);
    return s ? s->value("wire", json::object()).value("refused", std::uint64_t{0}) : 0;
  };
  const auto refused_before = refused_keys();

  const std::vector<refusal_case> cases = {
      {"a key the config does not list", "booking", "stranger", put_args("troupe.client", "BookingRequested", ada),
       no_reply, "refused this client's key"},
      {"a client without the producer role", "booking", "auditor",
       put_args("troupe.client", "BookingRequested", ada), request_refused, "AccessDenied: client 'auditor'"},
      {"a source the producer may not use", "booking", "shop", put_args("web", "BookingRequested", ada),
       entry_refused, "NotAuthorizedForSourceException"},
      {"a detail-type the node's service emits", "booking", "shop",
       put_args("troupe.client", "BookingCreated", ada), entry_refused, "NotAuthorizedForDetailTypeException"},
      {"a detail-type another node's service accepts", "payment", "shop",
       put_args("troupe.client", "BookingRequested", ada), entry_refused, "NotAuthorizedForDetailTypeException"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    auto r = example(c, k.node, k.client, k.args, {"--timeout", "10", "--attempts", "1"});
    EXPECT_EQ(r.code, k.code) << r.output;
    EXPECT_NE(r.output.find(k.says), std::string::npos) << r.output;
  }
  // The stranger's key was turned away by the node, not lost on the way.
  EXPECT_GT(refused_keys(), refused_before);

  // A node that does not answer: the example gives up after its attempts.
  // (The payment node's key is the wrong server key for the booking node:
  // no handshake completes.)
  const auto keys = c.dir() / "keys";
  auto r = run_command({python, source_file("examples/python/troupe_put.py"), "--endpoint", c.control("booking"),
                        "--server-key", (keys / "payment.pub").string(), "--client-key",
                        (keys / "shop.key").string(), "--timeout", "1", "--attempts", "2", "status"},
                       30s);
  EXPECT_EQ(r.code, no_reply) << r.output;
  EXPECT_NE(r.output.find("no reply from " + c.control("booking") + " within 1"), std::string::npos) << r.output;
}

TEST(protocol, python_example_sends_the_bytes_of_the_protocol_page) {
  const auto page = read_source_file("docs/PROTOCOL.md");
  const auto ex = doc_bytes(page, "put-request");
  ASSERT_TRUE(ex.problem.empty()) << ex.problem;
  auto r = run_command({python, source_file("examples/python/troupe_put.py"), "--endpoint", "tcp://127.0.0.1:1",
                        "put", "--source", "troupe.client", "--detail-type", "BookingRequested", "--detail", ada,
                        "--idempotency-key", "booking-ada-1", "--dry-run"},
                       30s);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(trimmed(r.output), hex(ex.bytes));
}

} // namespace
} // namespace troupe::test
