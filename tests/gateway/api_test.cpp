// EventBridge's operations on a config: what each answers, in EventBridge's
// shapes, and every refusal. PutEvents' entries are captured where the
// gateway would send them to the ingress node (tests/integration's gateway
// group sends them to a real one).
#include "gateway/api.hpp"

#include <gtest/gtest.h>

#include "rules/matcher.hpp"
#include "wire/envelope.hpp"
#include "wire/limits.hpp"

namespace troupe::gateway {
namespace {

using json = nlohmann::json;

bool any_service(const std::string&, const YAML::Node&, cluster::diagnostics&) { return true; }

cluster::config flight() {
  const std::string text = R"(cluster: flight
nodes:
  booking:
    endpoints: {pub: "tcp://127.0.0.1:5001", control: "tcp://127.0.0.1:5002"}
    services: [booking]
  payment:
    endpoints: {pub: "tcp://127.0.0.1:5003", control: "tcp://127.0.0.1:5004"}
    services: [payment]
  dlq:
    endpoints: {pub: "tcp://127.0.0.1:5005", control: "tcp://127.0.0.1:5006"}
    services: [dlq]
gateway:
  ingress: booking
  account: "111122223333"
  access-keys:
    AKIAPRODUCER00000001: {secret-key-env: S1, roles: [producer], sources: [flight.web]}
    AKIAREADER0000000001: {secret-key-env: S2, roles: [reader]}
rules:
  - name: booking-requests
    pattern: {"detail-type": ["BookingRequested"]}
    target: booking
    dead-letter-queue: dlq
  - name: charge
    pattern: {"source": ["troupe.booking"], "detail-type": ["BookingCreated"]}
    target: payment
    retry-policy: {maximum-retry-attempts: 20, maximum-event-age: 3600}
)";
  cluster::diagnostics diag("flight.yaml");
  auto cfg = cluster::load_text(text, "flight.yaml", "/srv", any_service, diag);
  EXPECT_TRUE(cfg) << diag.to_string();
  return *cfg;
}

struct fixture : ::testing::Test {
  cluster::config cfg = flight();
  std::vector<std::vector<wire::put_entry>> calls;
  bool node_down = false;
  // As a node's control socket takes a call: a request past
  // max_request_bytes is cut (wire::client refuses to send it), and one
  // its decoder refuses fails whole.
  api ops{cfg, [this](const std::vector<wire::put_entry>& entries) -> result<std::vector<wire::put_result>> {
            if (node_down)
              return error{wire::errc::io, "no reply within 10000 ms"};
            wire::control_request req;
            req.verb = "put";
            req.entries = entries;
            const auto bytes = wire::encode(req);
            if (bytes.size() > wire::max_request_bytes)
              return error{wire::errc::too_large, "a request of " + std::to_string(bytes.size()) + " bytes"};
            if (auto decoded = wire::decode_request(bytes); !decoded)
              return decoded.err();
            calls.push_back(entries);
            std::vector<wire::put_result> out;
            for (std::size_t i = 0; i < entries.size(); ++i)
              out.push_back({"event-" + std::to_string(calls.size()) + "-" + std::to_string(i), "", ""});
            return out;
          }};
  caller producer{"AKIAPRODUCER00000001", cluster::producer, {"flight.web"}};
  caller reader{"AKIAREADER0000000001", cluster::reader, {}};

  json call(std::string_view op, const json& body, const caller& who, int status = 200,
            const std::string& key = "") {
    auto r = ops.handle(op, body.dump(), who, key);
    EXPECT_EQ(r.status, status) << op << ": " << r.body;
    return json::parse(r.body);
  }
};

json entry(const std::string& detail = R"({"customer": "Ada", "price": 120.50})") {
  return {{"Source", "flight.web"}, {"DetailType", "BookingRequested"}, {"Detail", detail}};
}

TEST_F(fixture, put_events_puts_each_entry_and_answers_its_event_id) {
  auto e = entry();
  e["Resources"] = {"arn:aws:flight:TR100"};
  e["Time"] = 1796644800.5;
  e["TraceHeader"] = "Root=1-5759e988-bd862e3fe1be46a994272793";
  const auto now_s = wire::now_ms() / 1000;
  e["Time"] = now_s;
  auto out = call("PutEvents", {{"Entries", {e, entry()}}}, producer, 200, "call:k");
  EXPECT_EQ(out["FailedEntryCount"], 0);
  ASSERT_EQ(out["Entries"].size(), 2u);
  EXPECT_EQ(out["Entries"][0]["EventId"], "event-1-0");
  EXPECT_EQ(out["Entries"][1]["EventId"], "event-1-1");
  ASSERT_EQ(calls.size(), 1u);
  const auto& pe = calls[0][0];
  EXPECT_EQ(pe.source, "flight.web");
  EXPECT_EQ(pe.detail_type, "BookingRequested");
  EXPECT_EQ(pe.resources, std::vector<std::string>{"arn:aws:flight:TR100"});
  EXPECT_EQ(pe.time_ms, now_s * 1000);
  EXPECT_EQ(pe.correlation_id, "Root=1-5759e988-bd862e3fe1be46a994272793");
  EXPECT_EQ(pe.idempotency_key, "call:k/0");
  EXPECT_EQ(calls[0][1].idempotency_key, "call:k/1");
  EXPECT_EQ(calls[0][1].time_ms, 0);
  // The detail is the same MessagePack json_to_msgpack makes: 120.50 keeps its value.
  EXPECT_EQ(pe.detail, *rules::json_to_msgpack(R"({"customer": "Ada", "price": 120.50})"));
}

TEST_F(fixture, bad_entries_fail_alone_and_the_rest_are_put) {
  auto big = entry("{\"pad\": \"" + std::string(max_entry_size, 'x') + "\"}");
  auto wrong_source = entry();
  wrong_source["Source"] = "flight.admin";
  auto other_bus = entry();
  other_bus["EventBusName"] = "orders";
  auto named_bus = entry();
  named_bus["EventBusName"] = "arn:aws:events:us-east-1:111122223333:event-bus/flight";
  auto bad_time = entry();
  bad_time["Time"] = "yesterday";
  auto no_type = entry();
  no_type.erase("DetailType");
  json entries = {entry(), big, entry("[1, 2]"), entry("{\"a\": "), wrong_source, other_bus, named_bus, bad_time,
                  no_type, 7};
  auto out = call("PutEvents", {{"Entries", entries}}, producer);
  EXPECT_EQ(out["FailedEntryCount"], 8);
  const auto code = [&](int i) { return out["Entries"][i].value("ErrorCode", std::string("none")); };
  EXPECT_EQ(out["Entries"][0]["EventId"], "event-1-0");
  EXPECT_EQ(code(1), "InvalidArgument");
  EXPECT_NE(out["Entries"][1]["ErrorMessage"].get<std::string>().find("262144"), std::string::npos);
  EXPECT_EQ(code(2), "MalformedDetail");
  EXPECT_EQ(code(3), "MalformedDetail");
  EXPECT_EQ(code(4), "NotAuthorizedForSourceException");
  EXPECT_EQ(code(5), "ResourceNotFoundException");
  EXPECT_EQ(out["Entries"][6]["EventId"], "event-1-1");  // the bus by its ARN
  EXPECT_EQ(code(7), "InvalidArgument");
  EXPECT_EQ(code(8), "InvalidArgument");
  EXPECT_EQ(code(9), "InvalidArgument");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].size(), 2u);  // only the good ones went to the node
}

TEST_F(fixture, entry_fields_are_held_to_eventbridges_constraints) {
  auto default_arn = entry();
  default_arn["EventBusName"] = "arn:aws:events:us-east-1:111122223333:event-bus/default";
  auto empty_bus = entry();
  empty_bus["EventBusName"] = "";
  auto empty_trace = entry();
  empty_trace["TraceHeader"] = "";
  auto long_trace = entry();
  long_trace["TraceHeader"] = std::string(max_trace_header + 1, 't');
  auto longest_trace = entry();
  longest_trace["TraceHeader"] = std::string(max_trace_header, 't');
  auto no_such_day = entry();
  no_such_day["Time"] = "2026-02-30T00:00:00Z";
  auto leap_day = entry();
  leap_day["Time"] = "2028-02-29T00:00:00Z";
  auto not_leap = entry();
  not_leap["Time"] = "2027-02-29T00:00:00Z";
  json entries = {default_arn, empty_bus, empty_trace, long_trace, longest_trace, no_such_day, leap_day, not_leap};
  auto out = call("PutEvents", {{"Entries", entries}}, producer);
  const auto code = [&](int i) { return out["Entries"][i].value("ErrorCode", std::string("none")); };
  EXPECT_EQ(code(0), "none") << out.dump();  // the default bus's ARN is this cluster's bus
  EXPECT_EQ(code(1), "InvalidArgument");
  EXPECT_EQ(code(2), "InvalidArgument");
  EXPECT_EQ(code(3), "InvalidArgument");
  EXPECT_EQ(code(4), "none");
  EXPECT_EQ(code(5), "InvalidArgument");  // not 2026-03-02
  // A leap day is a date: then the node's window (a day back) decides.
  EXPECT_NE(out["Entries"][6].value("ErrorMessage", ""), "Parameter Time must be seconds since the epoch or an RFC 3339 timestamp.");
  EXPECT_EQ(out["Entries"][7].value("ErrorMessage", ""), "Parameter Time must be seconds since the epoch or an RFC 3339 timestamp.");
}

TEST_F(fixture, an_entry_exactly_at_the_limit_is_put) {
  // The node counts the Detail as MessagePack and 14 bytes for the time
  // (wire::entry_size): {"pad": "x..."} is a map header, "pad" and a str32
  // header, 10 bytes, before its x's.
  const std::size_t fixed = std::string("flight.web").size() + std::string("BookingRequested").size() + 10 +
                            wire::entry_time_bytes;
  const auto padded = [](std::size_t n) { return entry("{\"pad\": \"" + std::string(n, 'x') + "\"}"); };
  auto out = call("PutEvents", {{"Entries", {padded(max_entry_size - fixed), padded(max_entry_size - fixed + 1)}}},
                  producer);
  EXPECT_EQ(out["FailedEntryCount"], 1) << out.dump().substr(0, 500);
  EXPECT_EQ(out["Entries"][0]["EventId"], "event-1-0");
  EXPECT_EQ(out["Entries"][1]["ErrorCode"], "InvalidArgument");
}

/// {"a": [[n items], [n items], ...]} with `arrays` arrays of `item`s.
std::string detail_of_arrays(std::size_t arrays, std::size_t n, const std::string& item) {
  std::string d = "{\"a\": [";
  for (std::size_t a = 0; a < arrays; ++a) {
    d += a ? ", [" : "[";
    for (std::size_t i = 0; i < n; ++i)
      d += (i ? "," : "") + item;
    d += "]";
  }
  return d + "]}";
}

std::string nested(std::size_t depth) {
  std::string d;
  for (std::size_t i = 0; i < depth; ++i)
    d += "{\"a\": ";
  d += "1";
  for (std::size_t i = 0; i < depth; ++i)
    d += "}";
  return d;
}

// What the node refuses fails that entry alone, never the whole call (a
// 500 the SDKs would retry in vain): the rest of the call is put.
TEST_F(fixture, entries_the_node_would_refuse_fail_alone) {
  struct refused {
    const char* name;
    std::string detail;
    const char* code;
  };
  const std::vector<refused> cases = {
      // Deeper than the node's decoder takes (wire's put_detail_depth, 64): it would fail the call.
      {"nested 100 deep", nested(100), "MalformedDetail"},
      {"nested past max_detail_depth", nested(wire::max_detail_depth + 1), "MalformedDetail"},
      {"more than max_detail_items elements", detail_of_arrays(1, wire::max_detail_items + 1, "0"),
       "MalformedDetail"},
      // Under 256 KiB as JSON text, over it as MessagePack (each 1.5 is 9 bytes).
      {"over the limit as MessagePack", detail_of_arrays(2, 30000, "1.5"), "InvalidArgument"},
      // A rule would match either copy of flight, the booking service reads
      // the last: an anything-but rule on one could be passed with the other.
      {"a key twice", R"({"customer": "Dup", "flight": "TR100", "flight": "TR300"})", "MalformedDetail"},
      {"a key twice, nested", R"({"trip": {"leg": 1, "leg": 2}})", "MalformedDetail"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    calls.clear();
    ASSERT_LE(c.detail.size(), max_entry_size);
    auto out = call("PutEvents", {{"Entries", {entry(), entry(c.detail), entry()}}}, producer);
    EXPECT_EQ(out["FailedEntryCount"], 1) << out.dump().substr(0, 500);
    EXPECT_EQ(out["Entries"][1].value("ErrorCode", "none"), c.code) << out["Entries"][1].dump().substr(0, 500);
    EXPECT_TRUE(out["Entries"][0].contains("EventId"));
    EXPECT_TRUE(out["Entries"][2].contains("EventId"));
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].size(), 2u);
  }
}

TEST_F(fixture, a_call_past_the_nodes_request_limit_fails_the_entries_that_do_not_fit) {
  // Ten entries just under 256 KiB as the node counts them fit in one
  // request (wire::max_request_bytes, 4 MiB) with room to spare...
  const std::size_t fixed = std::string("flight.web").size() + std::string("BookingRequested").size() + 10 +
                            wire::entry_time_bytes;
  json ten = json::array();
  for (int i = 0; i < 10; ++i)
    ten.push_back(entry("{\"pad\": \"" + std::string(max_entry_size - fixed, 'x') + "\"}"));
  auto out = call("PutEvents", {{"Entries", ten}}, producer);
  EXPECT_EQ(out["FailedEntryCount"], 0);
  // ...and eight that are over it as MessagePack (2.25 times their JSON
  // text, 4.6 MB together) fail alone, as the node would answer each, and
  // not as a request the node cuts: the other two are put.
  calls.clear();
  json big = json::array();
  big.push_back(entry());
  for (int i = 0; i < 8; ++i)
    big.push_back(entry(detail_of_arrays(2, 32000, "1.5")));
  big.push_back(entry());
  out = call("PutEvents", {{"Entries", big}}, producer);
  EXPECT_EQ(out["FailedEntryCount"], 8);
  for (int i = 1; i <= 8; ++i)
    EXPECT_EQ(out["Entries"][i].value("ErrorCode", "none"), "InvalidArgument");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].size(), 2u);
}

TEST_F(fixture, whole_call_refusals) {
  EXPECT_EQ(call("PutEvents", json::object(), producer, 400)["__type"], "ValidationException");
  EXPECT_EQ(call("PutEvents", {{"Entries", json::array()}}, producer, 400)["__type"], "ValidationException");
  json eleven = json::array();
  for (int i = 0; i < 11; ++i)
    eleven.push_back(entry());
  EXPECT_EQ(call("PutEvents", {{"Entries", eleven}}, producer, 400)["__type"], "ValidationException");
  EXPECT_EQ(call("PutEvents", {{"Entries", {entry()}}}, reader, 400)["__type"], "AccessDeniedException");
  EXPECT_EQ(call("ListRules", json::object(), producer, 400)["__type"], "AccessDeniedException");
  EXPECT_EQ(call("PutRule", json::object(), producer, 400)["__type"], "UnknownOperationException");
  EXPECT_EQ(call("FlyToTheMoon", json::object(), producer, 400)["__type"], "UnknownOperationException");
  auto r = ops.handle("ListRules", "{not json", reader);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["__type"], "SerializationException");
  EXPECT_TRUE(calls.empty());
  node_down = true;
  auto down = call("PutEvents", {{"Entries", {entry()}}}, producer, 500, "call:k");
  EXPECT_EQ(down["__type"], "InternalException");
  EXPECT_NE(down["message"].get<std::string>().find("safe to retry"), std::string::npos);
}

TEST_F(fixture, test_event_pattern_answers_as_the_matcher) {
  const json event = {{"id", "1"},        {"account", "111122223333"}, {"source", "flight.web"},
                      {"time", "2026-12-07T12:00:00Z"}, {"region", "us-east-1"}, {"resources", json::array()},
                      {"detail-type", "BookingRequested"}, {"detail", {{"price", 300}}}};
  const auto test = [&](const std::string& pattern, const json& ev, int status = 200) {
    return call("TestEventPattern", {{"EventPattern", pattern}, {"Event", ev.dump()}}, producer, status);
  };
  EXPECT_EQ(test(R"({"detail": {"price": [{"numeric": [">", 100]}]}})", event)["Result"], true);
  EXPECT_EQ(test(R"({"detail": {"price": [{"numeric": [">", 300]}]}})", event)["Result"], false);
  EXPECT_EQ(test(R"({"source": ["flight.web"], "detail-type": ["BookingRequested"]})", event)["Result"], true);
  EXPECT_EQ(test(R"({"detail": {"price": [{"numeric": [">", "x"]}]}})", event, 400)["__type"],
            "InvalidEventPatternException");
  auto no_account = event;
  no_account.erase("account");
  EXPECT_EQ(test(R"({"source": ["flight.web"]})", no_account, 400)["__type"], "ValidationException");
  // The required fields' types, as EventBridge holds them.
  for (const auto& [field, value] : std::vector<std::pair<const char*, json>>{
           {"resources", "arn:x"}, {"resources", json::array({1})}, {"id", 7}, {"time", "yesterday"},
           {"time", "2026-02-30T00:00:00Z"}, {"source", json::array()}}) {
    auto bad = event;
    bad[field] = value;
    const auto out = test(R"({"source": ["flight.web"]})", bad, 400);
    EXPECT_EQ(out["__type"], "ValidationException") << field << " = " << value.dump();
    EXPECT_NE(out["message"].get<std::string>().find(field), std::string::npos) << out.dump();
  }
  EXPECT_EQ(call("TestEventPattern", {{"EventPattern", "{}"}}, producer, 400)["__type"], "ValidationException");
}

TEST_F(fixture, rules_targets_and_buses_come_from_the_config) {
  auto rules = call("ListRules", json::object(), reader)["Rules"];
  std::vector<std::string> names;
  for (const auto& r : rules)
    names.push_back(r["Name"]);
  ASSERT_GE(names.size(), 2u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  const auto charge = std::find_if(rules.begin(), rules.end(), [](const json& r) { return r["Name"] == "charge"; });
  ASSERT_NE(charge, rules.end());
  EXPECT_EQ((*charge)["Arn"], "arn:aws:events:us-east-1:111122223333:rule/flight/charge");
  EXPECT_EQ((*charge)["State"], "ENABLED");
  EXPECT_EQ((*charge)["EventBusName"], "flight");
  EXPECT_EQ(json::parse((*charge)["EventPattern"].get<std::string>()),
            json::parse(R"({"source": ["troupe.booking"], "detail-type": ["BookingCreated"]})"));
  // The runtime's own rules are listed as managed.
  EXPECT_TRUE(std::any_of(rules.begin(), rules.end(), [](const json& r) { return r.contains("ManagedBy"); }));

  auto page1 = call("ListRules", {{"Limit", 1}}, reader);
  ASSERT_EQ(page1["Rules"].size(), 1u);
  auto page2 = call("ListRules", {{"Limit", 1}, {"NextToken", page1["NextToken"]}}, reader);
  EXPECT_EQ(page2["Rules"][0]["Name"], names[1]);
  EXPECT_EQ(call("ListRules", {{"NamePrefix", "book"}}, reader)["Rules"].size(), 1u);
  EXPECT_EQ(call("ListRules", {{"EventBusName", "orders"}}, reader, 400)["__type"], "ResourceNotFoundException");
  EXPECT_EQ(call("ListRules", {{"Limit", 0}}, reader, 400)["__type"], "ValidationException");
  // A token this gateway did not give is not valid.
  EXPECT_EQ(call("ListRules", {{"NextToken", "garbage"}}, reader, 400)["__type"], "ValidationException");
  EXPECT_EQ(call("ListTargetsByRule", {{"Rule", "charge"}, {"NextToken", "x"}}, reader, 400)["__type"],
            "ValidationException");
  EXPECT_EQ(call("ListEventBuses", {{"NextToken", "x"}}, reader, 400)["__type"], "ValidationException");

  auto d = call("DescribeRule", {{"Name", "booking-requests"}}, reader);
  EXPECT_EQ(d["CreatedBy"], "111122223333");
  EXPECT_EQ(call("DescribeRule", {{"Name", "nope"}}, reader, 400)["__type"], "ResourceNotFoundException");

  auto t = call("ListTargetsByRule", {{"Rule", "charge"}}, reader)["Targets"];
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0]["Id"], "payment");
  EXPECT_EQ(t[0]["RetryPolicy"]["MaximumRetryAttempts"], 20);
  EXPECT_EQ(t[0]["RetryPolicy"]["MaximumEventAgeInSeconds"], 3600);
  EXPECT_FALSE(t[0].contains("DeadLetterConfig"));
  auto bt = call("ListTargetsByRule", {{"Rule", "booking-requests"}}, reader)["Targets"];
  EXPECT_EQ(bt[0]["DeadLetterConfig"]["Arn"], "arn:aws:troupe:us-east-1:111122223333:service/flight/dlq");

  auto buses = call("ListEventBuses", json::object(), reader)["EventBuses"];
  ASSERT_EQ(buses.size(), 1u);
  EXPECT_EQ(buses[0]["Name"], "flight");
  EXPECT_EQ(buses[0]["Arn"], "arn:aws:events:us-east-1:111122223333:event-bus/flight");
  EXPECT_TRUE(call("ListEventBuses", {{"NamePrefix", "x"}}, reader)["EventBuses"].empty());
}

}  // namespace
}  // namespace troupe::gateway
