// Writes the fuzz targets' seed corpora, fuzz/corpus/<target>/<name>, from
// what the tests use: the envelopes, control requests and replies and peer
// messages of tests/wire (made with the encoders), the configs of configs/
// and tests/cluster/config_test.cpp, and the patterns and events of the
// rules' conformance cases. Built in the fuzz build; regenerate with
//   build-fuzz/fuzz/make_seeds . fuzz/corpus
// from the source root (it adds and overwrites, and never deletes: the
// corpora also keep the inputs of crashes found, named crash-*).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rules/json.hpp"
#include "rules/matcher.hpp"
#include "wire/control.hpp"
#include "wire/envelope.hpp"
#include "wire/msgpack_io.hpp"
#include "wire/stream.hpp"

using namespace troupe;
namespace fs = std::filesystem;
using packer = msgpack::packer<wire::string_sink>;

namespace {

fs::path out_root;
int written = 0;

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const auto dir = out_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
  ++written;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

template <class F>
std::string packed(F fill) {
  std::string out;
  wire::string_sink sink{out};
  packer pk(sink);
  fill(pk, out);
  return out;
}

std::string map_of(const std::string& k, const std::string& v) {
  return packed([&](packer& pk, std::string&) {
    pk.pack_map(1);
    pk.pack(k);
    pk.pack(v);
  });
}

// tests/wire/envelope_test.cpp's detail, and one with every kind of value.
std::string booking_detail() {
  return packed([](packer& pk, std::string&) {
    pk.pack_map(2);
    pk.pack(std::string("booking_id"));
    pk.pack(std::string("B-42"));
    pk.pack(std::string("amount"));
    pk.pack(249.9);
  });
}

std::string rich_detail() {
  return packed([](packer& pk, std::string&) {
    pk.pack_map(7);
    pk.pack(std::string("state"));
    pk.pack(std::string("running"));
    pk.pack(std::string("c"));
    pk.pack(-7);
    pk.pack(std::string("items"));
    pk.pack_array(2);
    pk.pack_map(2);
    pk.pack(std::string("sku"));
    pk.pack(std::string("A1"));
    pk.pack(std::string("qty"));
    pk.pack(2);
    pk.pack_map(1);
    pk.pack(std::string("voided"));
    pk.pack(true);
    pk.pack(std::string("owner"));
    pk.pack_nil();
    pk.pack(std::string("ratio"));
    pk.pack(0.5f);
    pk.pack(std::string("blob"));
    pk.pack_bin(2);
    pk.pack_bin_body("\x00\x01", 2);
    pk.pack(std::string("big"));
    pk.pack_ext(4, rules::decimal_ext_type);
    pk.pack_ext_body("1e99", 4);
  });
}

std::vector<std::pair<std::string, wire::envelope>> envelopes() {
  wire::envelope e;
  e.id = "0190b6d2-7a5c-7d3e-8f00-123456789abc";
  e.source = "troupe.booking";
  e.detail_type = "BookingCreated";
  e.time_ms = 1795000000123;
  e.resources = {"flight/TR100"};
  e.origin = "booking";
  e.epoch = 7;
  e.seq = 12345678901ULL;
  e.correlation_id = "B-42";
  e.causation_id = "c0ffee";
  e.detail = booking_detail();
  auto bare = e;
  bare.resources.clear();
  bare.correlation_id.clear();
  bare.causation_id.clear();
  bare.time_ms = -5;
  bare.detail = "\x80";
  auto rich = e;
  rich.source = "a";
  rich.detail_type = "A";
  rich.resources = {"arn:a", "arn:b", ""};
  rich.epoch = UINT64_MAX;
  rich.seq = 0;
  rich.detail = rich_detail();
  return {{"booking", e}, {"empty-optional-fields", bare}, {"every-kind-of-value", rich}};
}

std::string encoded(const wire::envelope& e) {
  std::string out;
  if (!wire::encode(e, out))
    throw std::runtime_error("a seed envelope does not encode");
  return out;
}

void wire_seeds() {
  for (const auto& [name, envelope] : envelopes()) {
    const auto& e = envelope;  // a lambda captures no structured binding in C++17
    seed("envelope", name, encoded(e));
    // The same fields as one event map, for the matcher.
    seed("matcher", "envelope-" + name, packed([&](packer& pk, std::string& out) {
           pk.pack_map(6);
           for (auto [k, v] : {std::pair{"id", &e.id}, {"source", &e.source}, {"detail-type", &e.detail_type}}) {
             pk.pack(std::string(k));
             pk.pack(*v);
           }
           pk.pack(std::string("time"));
           pk.pack(e.time_ms);
           pk.pack(std::string("resources"));
           pk.pack(e.resources);
           pk.pack(std::string("detail"));
           out += e.detail;
         }));
  }

  // tests/wire/control_test.cpp
  wire::control_request put;
  put.verb = "put";
  put.entries.push_back({"troupe.client", "BookingRequested", map_of("flight", "TR100"), "", {"a", "b"}, {}});
  put.entries.push_back({"troupe.client", "Other", map_of("x", "y"), "corr", {}, {}});
  seed("control_request", "put", wire::encode(put));
  put.entries[0].idempotency_key = "booking-1";
  put.entries[1].detail = rich_detail();
  seed("control_request", "put-with-key", wire::encode(put));
  wire::control_request query;
  query.verb = "query";
  query.service = "booking";
  query.what = "bookings";
  query.args = R"({"ids":["x"]})";
  seed("control_request", "query", wire::encode(query));
  wire::control_request status;
  status.verb = "status";
  seed("control_request", "status", wire::encode(status));
  wire::control_request read;
  read.verb = "read";
  read.limit = 2000;
  seed("control_request", "read", wire::encode(read));
  read.services = {"booking", "payment"};
  read.after = wire::state_key{"booking", "bookings", "B-7"};
  seed("control_request", "read-after", wire::encode(read));
  seed("control_request", "read-limit-0", "\x95\x01\xa4read\x90\x90\x00");
  seed("control_request", "put-entry-not-an-array", "\x93\x01\xa3put\x91\x01");
  seed("control_request", "query-missing-args", "\x94\x01\xa5query\xa1x\xa1y");

  // A reply's first byte is the verb asked: 0 put, 1 query, 2 status, 3 read.
  wire::control_reply results;
  results.ok = true;
  results.results = {{"id-1", "", ""}, {"", "MalformedDetail", "not a map"}};
  seed("control_reply", "put-ok", '\x00' + wire::encode_reply(results, "put"));
  wire::control_reply refused;
  refused.body = "no such service";
  seed("control_reply", "put-error", '\x00' + wire::encode_reply(refused, "put"));
  seed("control_reply", "query-error", '\x01' + wire::encode_reply(refused, "query"));
  wire::control_reply body;
  body.ok = true;
  body.body = R"({"node":"booking","events":12})";
  seed("control_reply", "status-ok", '\x02' + wire::encode_reply(body, "status"));
  wire::control_reply page;
  page.ok = true;
  page.page.rows = {{{"booking", "bookings", "B-1"}, R"({"state":"CONFIRMED"})"}};
  page.page.next = wire::state_key{"booking", "bookings", "B-1"};
  page.page.inbox = 2;
  page.page.outbox = {{"BookingCreated", 12, 1}};
  seed("control_reply", "read-ok", '\x03' + wire::encode_reply(page, "read"));
  seed("control_reply", "read-error", '\x03' + wire::encode_reply(refused, "read"));

  // tests/wire/stream_test.cpp, and a batch of real envelopes.
  seed("stream", "heartbeat-without-streams", wire::encode(wire::heartbeat{"booking", 7, {}}));
  seed("stream", "heartbeat",
       wire::encode(wire::heartbeat{"booking", 1795000000123, {{"BookingCreated", 12}, {"BookingCancelled", UINT64_MAX}}}));
  seed("stream", "ack-without-streams", wire::encode(wire::ack{"payment", {}}));
  seed("stream", "ack",
       wire::encode(wire::ack{"payment", {{"BookingCreated", 1795000000123, 42}, {"Other", 1, UINT64_MAX}}}));
  seed("stream", "replay", wire::encode(wire::replay_request{"payment", "BookingCreated", 0, 1, 2000}));
  seed("stream", "replay-for-all",
       wire::encode(wire::replay_request{"payment", "BookingCreated", UINT64_MAX, UINT64_MAX, 10000}));
  seed("stream", "events-empty", wire::encode(wire::replay_batch{"BookingCreated", 7, 0, 0, {}}));
  seed("stream", "events",
       wire::encode(wire::replay_batch{"BookingCreated", 7, 9, 3, {{3, std::string("\x9c\x00\xff", 3)}, {4, ""}, {9, "event"}}}));
  wire::replay_batch batch{"BookingCreated", 7, 12345678902ULL, 12345678901ULL, {}};
  for (const auto& [name, e] : envelopes())
    batch.events.emplace_back(e.seq, encoded(e));
  seed("stream", "events-of-envelopes", wire::encode(batch));
}

/// Every case of a conformance file: its pattern, NUL, its event (the
/// pattern target), and its event as MessagePack (the matcher target).
void rules_seeds(const fs::path& file, const std::string& prefix, std::set<std::string>& events) {
  std::istringstream lines(read_file(file));
  std::string line;
  std::set<std::string> cases;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    auto doc = rules::detail::parse_json(line, nullptr);
    const auto* pattern = doc ? doc->member("pattern") : nullptr;
    const auto* event = doc ? doc->member("event") : nullptr;
    if (!pattern || !event)
      throw std::runtime_error(file.string() + ":" + std::to_string(number) + ": not a case");
    const auto p = line.substr(pattern->begin, pattern->end - pattern->begin);
    const auto e = line.substr(event->begin, event->end - event->begin);
    char name[32];
    std::snprintf(name, sizeof name, "%s-%03d", prefix.c_str(), number);
    if (cases.insert(p + '\0' + e).second)
      seed("pattern", name, p + '\0' + e);
    // The json target: each distinct event and pattern text.
    static std::set<std::string> texts;
    if (texts.insert(e).second)
      seed("json", std::string(name) + "-event", e);
    if (texts.insert(p).second)
      seed("json", std::string(name) + "-pattern", p);
    auto bytes = rules::json_to_msgpack(e);
    if (bytes && events.insert(*bytes).second)
      seed("matcher", name, *bytes);
  }
}

/// The first raw string literal of a C++ file that starts with `start`.
std::string raw_literal(const std::string& source, const std::string& start) {
  const auto at = source.find("R\"(" + start);
  const auto end = at == std::string::npos ? at : source.find(")\"", at);
  if (end == std::string::npos)
    throw std::runtime_error("no raw string starting with " + start);
  return source.substr(at + 3, end - at - 3);
}

void config_seeds(const fs::path& root) {
  const auto flight = read_file(root / "configs/flight.yaml");
  const auto faults = read_file(root / "configs/faults.yaml");
  seed("config", "flight", flight);
  seed("config", "faults", faults);
  seed("config", "flight-with-faults", flight + faults);  // as scripts/demo.sh runs it
  // tests/cluster/config_test.cpp: its good config, and the sections its
  // cases append to it.
  const std::string good = raw_literal(read_file(root / "tests/cluster/config_test.cpp"), "cluster: demo");
  const std::vector<std::pair<std::string, std::string>> endings = {
      {"good", ""},
      {"supervision", "supervision: {max-restarts: 2, within: 30, backoff-base: 0.05, backoff-cap: 0.1}\n"},
      {"supervision-bad", "supervision: {max-restarts: x, within: 0, backoff-base: -1, backoff-cap: 0}\n"},
      {"faults", "faults:\n  alpha: {transient: 0.3, crash: 0, outage: {after: 10, for: 20}}\n"
                 "  beta: {poison: {\"detail\": {\"card\": [\"4000\"]}}, delay: 0.5, delay-probability: 0.1}\n"},
      {"retry-policy", "  - name: r3\n    pattern: {\"detail\": {\"x\": [{\"prefix\": \"a\\\"b\"}]}}\n    target: alpha\n"
                       "    retry-policy: {maximum-retry-attempts: 3, maximum-event-age: 60, backoff-base: 1, "
                       "backoff-cap: 2, handler-timeout: 5}\n"},
      {"aliases", "  - name: r3\n    pattern: &p {\"source\": [\"x\"]}\n    target: alpha\n"
                  "  - name: r4\n    pattern: *p\n    target: beta\n"},
      {"not-utf8", "  - name: r3\n    pattern: {\"source\": [\"\xc0\xaf\"]}\n    target: alpha\n"},
  };
  for (const auto& [name, ending] : endings)
    seed("config", "test-" + name, good + ending);
  seed("config", "test-dead-letter-queue",
       good + "  - name: r3\n    pattern: {\"source\": [\"y\"]}\n    target: alpha\n    dead-letter-queue: dlq\n"
              "  - name: r4\n    pattern: {\"source\": [\"z\"]}\n    target: beta\n");
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: make_seeds SOURCE_ROOT OUT_DIR (from the source root: make_seeds . fuzz/corpus)\n";
    return 2;
  }
  const fs::path root = argv[1];
  out_root = argv[2];
  try {
    wire_seeds();
    std::set<std::string> events;
    rules_seeds(root / "tests/rules/conformance/patterns.jsonl", "case", events);
    rules_seeds(root / "tests/rules/conformance/quirks.jsonl", "quirk", events);
    config_seeds(root);
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  std::cout << written << " seeds in " << out_root.string() << "\n";
  return 0;
}
