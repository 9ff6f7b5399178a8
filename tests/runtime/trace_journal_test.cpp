// The trace journal: what a node records of the events it makes and the
// attempts of its deliveries, and what `troupe trace` and `troupe sagas`
// read back, on a real store; then through the bus, from a delivery's
// retry to the `trace` request's answer.
#include "actors/runtime/trace_journal.hpp"

#include <gtest/gtest.h>

#include "tests/runtime/fixtures.hpp"
#include "wire/control.hpp"

namespace troupe::runtime {
namespace {

using test::answer_to;
using test::event_of;
using json = nlohmann::json;

struct journal_fixture : ::testing::Test {
  troupe::test::temp_dir dir;
  std::string path = (dir.path() / "node.db").string();

  void write(const store::node_store::job& job) {
    store::snapshot snap;
    auto s = store::node_store::open(path, store::durability::os, snap);
    ASSERT_TRUE(s) << s.err().message;
    (*s)->fatal = [](const std::string& why) { ADD_FAILURE() << why; };
    (*s)->submit(job);
    (*s)->stop();
  }

  store::database db() {
    auto d = store::open_read_only(path);
    if (!d)
      throw std::runtime_error(d.err().message);
    return std::move(*d);
  }

  /// An event of saga `corr` made at `at_ms`, of `type`, caused by `cause`.
  static wire::envelope ev(const std::string& id, const std::string& corr, const std::string& type, std::int64_t at_ms,
                           const std::string& cause = "") {
    wire::envelope e;
    e.id = id;
    e.correlation_id = corr;
    e.causation_id = cause;
    e.detail_type = type;
    e.source = "test";
    e.time_ms = at_ms;
    e.epoch = 7;
    e.seq = 1;
    return e;
  }

  /// An attempt of `e` by rule r to target t, ended at `at_ms`.
  static answer attempt(const wire::envelope& e, int n, outcome o, std::int64_t at_ms) {
    answer a;
    a.d.ev = std::make_shared<wire::envelope>(e);
    a.d.rule = "r";
    a.d.target = "t";
    a.d.retry.attempt = n;
    a.status = o;
    a.at_ms = at_ms;
    a.handler_us = 1500;
    if (o != outcome::ok) {
      a.error_code = "HANDLER_ERROR";
      a.error = "card gateway timed out";
    }
    return a;
  }
};

TEST_F(journal_fixture, a_saga_reads_back_in_order_with_every_attempt_and_its_errors) {
  const auto first = ev("e1", "s1", "BookingRequested", 1000);
  const auto second = ev("e2", "s1", "BookingCreated", 1010, "e1");
  write([&](store::txn& t) -> result<void> {
    TROUPE_TRY(t.trace_add(event_record(first)));
    TROUPE_TRY(t.trace_add(attempt_record(attempt(first, 1, outcome::ok, 1005), store::trace_row::ok)));
    TROUPE_TRY(t.trace_add(event_record(second)));
    TROUPE_TRY(t.trace_add(attempt_record(attempt(second, 1, outcome::transient, 1020), store::trace_row::retry, 1100)));
    TROUPE_TRY(t.trace_add(attempt_record(attempt(second, 2, outcome::ok, 1120), store::trace_row::ok)));
    TROUPE_TRY(t.trace_add(event_record(ev("x1", "other", "BookingRequested", 1000))));
    return {};
  });
  auto d = db();
  auto r = read_saga(d, "s1", 100);
  ASSERT_TRUE(r) << r.err().message;
  const auto& recs = (*r)["records"];
  ASSERT_EQ(recs.size(), 5u);
  EXPECT_EQ(recs[0]["kind"], "event");
  EXPECT_EQ(recs[0]["type"], "BookingRequested");
  EXPECT_EQ(recs[2]["causation"], "e1");
  EXPECT_EQ(recs[3]["kind"], "retry");
  EXPECT_EQ(recs[3]["error_code"], "HANDLER_ERROR");
  EXPECT_EQ(recs[3]["error"], "card gateway timed out");
  EXPECT_EQ(recs[3]["due_ms"], 1100);
  EXPECT_EQ(recs[3]["handler_us"], 1500);
  EXPECT_EQ(recs[4]["kind"], "ok");
  EXPECT_EQ(recs[4]["attempt"], 2);
  EXPECT_EQ(recs[4]["rule"], "r");
  EXPECT_FALSE((*r)["truncated"].get<bool>());
  auto cut = read_saga(d, "s1", 2);
  ASSERT_TRUE(cut);
  EXPECT_EQ((*cut)["records"].size(), 2u);
  EXPECT_TRUE((*cut)["truncated"].get<bool>());
}

TEST_F(journal_fixture, sagas_tell_ended_from_open_and_quiet_from_busy) {
  write([&](store::txn& t) -> result<void> {
    // done: ended at 2000; open: last at 1500; fresh: last at 9000.
    TROUPE_TRY(t.trace_add(event_record(ev("d1", "done", "BookingRequested", 1000))));
    TROUPE_TRY(t.trace_add(event_record(ev("d2", "done", "TicketIssued", 2000, "d1"))));
    TROUPE_TRY(t.trace_add(event_record(ev("o1", "open", "BookingRequested", 1200))));
    const auto o2 = ev("o2", "open", "BookingCreated", 1400, "o1");
    TROUPE_TRY(t.trace_add(event_record(o2)));
    TROUPE_TRY(t.trace_add(attempt_record(attempt(o2, 1, outcome::transient, 1500), store::trace_row::retry, 1600)));
    TROUPE_TRY(t.trace_add(event_record(ev("f1", "fresh", "BookingRequested", 9000))));
    return {};
  });
  auto d = db();
  sagas_query q;
  q.terminal = {"TicketIssued", "BookingCancelled"};
  auto all = read_sagas(d, q);
  ASSERT_TRUE(all) << all.err().message;
  const auto& s = (*all)["sagas"];
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0]["id"], "fresh");  // newest first
  json open;
  for (const auto& x : s)
    if (x["id"] == "open")
      open = x;
  EXPECT_FALSE(open["terminal"].get<bool>());
  EXPECT_EQ(open["first_ms"], 1200);
  EXPECT_EQ(open["last_ms"], 1500);
  EXPECT_EQ(open["events"], 2);
  EXPECT_EQ(open["attempts"], 1);
  EXPECT_EQ(open["retries"], 1);
  EXPECT_EQ(open["last"]["kind"], "retry");
  EXPECT_EQ(open["last"]["type"], "BookingCreated");

  q.quiet_before_ms = 5000;
  q.open_only = true;
  auto stuck = read_sagas(d, q);
  ASSERT_TRUE(stuck) << stuck.err().message;
  ASSERT_EQ((*stuck)["sagas"].size(), 1u);
  EXPECT_EQ((*stuck)["sagas"][0]["id"], "open");

  sagas_query by_id;
  by_id.terminal = q.terminal;
  by_id.ids = {"done", "nosuch"};
  auto one = read_sagas(d, by_id);
  ASSERT_TRUE(one);
  ASSERT_EQ((*one)["sagas"].size(), 1u);
  EXPECT_TRUE((*one)["sagas"][0]["terminal"].get<bool>());
  EXPECT_EQ((*one)["sagas"][0]["last_ms"], 2000);

  sagas_query few;
  few.limit = 2;
  auto cut = read_sagas(d, few);
  ASSERT_TRUE(cut);
  EXPECT_EQ((*cut)["sagas"].size(), 2u);
  EXPECT_TRUE((*cut)["truncated"].get<bool>());
}

TEST_F(journal_fixture, the_inbox_shows_where_a_saga_waits) {
  std::string bytes;
  auto e = ev("w1", "waiting", "BookingCreated", 1000);
  e.origin = "booking";
  nlohmann::json::to_msgpack(json{{"n", 1}}, e.detail);
  ASSERT_TRUE(wire::encode(e, bytes));
  write([&](store::txn& t) -> result<void> {
    TROUPE_TRY(t.trace_add(event_record(e)));
    auto id = t.inbox_add("payment", "charge", bytes, store::retry_state{3, 99000, 1000, 0});
    if (!id)
      return id.err();
    return {};
  });
  auto d = db();
  auto r = read_saga(d, "waiting", 10);
  ASSERT_TRUE(r);
  ASSERT_EQ((*r)["pending"].size(), 1u);
  EXPECT_EQ((*r)["pending"][0]["target"], "payment");
  EXPECT_EQ((*r)["pending"][0]["attempt"], 3);
  EXPECT_EQ((*r)["pending"][0]["due_ms"], 99000);
  auto s = read_sagas(d, sagas_query{});
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["pending"]["waiting"].size(), 1u);
}

TEST_F(journal_fixture, pruning_keeps_the_newest_records_within_the_retention) {
  write([&](store::txn& t) -> result<void> {
    for (int i = 0; i < 100; ++i)
      TROUPE_TRY(t.trace_add(event_record(ev("e" + std::to_string(i), "s" + std::to_string(i % 10), "T", 1000 + i))));
    return {};
  });
  // By count: keep 60 of 100, 30 at a time.
  std::int64_t gone = 0;
  write([&](store::txn& t) -> result<void> {
    auto r = t.trace_prune(0, 60, 30);
    if (!r)
      return r.err();
    gone += *r;
    r = t.trace_prune(0, 60, 30);
    if (!r)
      return r.err();
    gone += *r;
    return {};
  });
  EXPECT_EQ(gone, 40);
  // By age: everything before 1090 goes.
  write([&](store::txn& t) -> result<void> {
    auto r = t.trace_prune(1090, 1000, 1000);
    if (!r)
      return r.err();
    gone += *r;
    return {};
  });
  EXPECT_EQ(gone, 90);
  auto d = db();
  auto left = read_sagas(d, sagas_query{});
  ASSERT_TRUE(left);
  std::int64_t events = 0;
  for (const auto& s : (*left)["sagas"])
    events += s["events"].get<std::int64_t>();
  EXPECT_EQ(events, 10);
}

TEST_F(journal_fixture, an_unreadable_record_is_said_not_thrown) {
  store::trace_row bad;
  bad.corr = "s";
  bad.event_id = "e";
  bad.type = "T";
  bad.rec = "\xc1";  // never valid MessagePack
  write([&](store::txn& t) { return t.trace_add(bad); });
  auto d = db();
  auto r = read_saga(d, "s", 10);
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)["records"][0]["unreadable"].get<bool>());
}

TEST(sagas_query_args, bad_arguments_are_refused_with_the_reason) {
  EXPECT_FALSE(parse_sagas_query(json::array()));
  EXPECT_FALSE(parse_sagas_query(json{{"terminal", "TicketIssued"}}));
  EXPECT_FALSE(parse_sagas_query(json{{"ids", {1, 2}}}));
  EXPECT_FALSE(parse_sagas_query(json{{"limit", 0}}));
  EXPECT_FALSE(parse_sagas_query(json{{"quiet_before_ms", -1}}));
  EXPECT_FALSE(parse_sagas_query(json{{"open_only", "yes"}}));
  auto q = parse_sagas_query(json{{"terminal", {"A"}}, {"limit", 5}, {"open_only", true}});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->limit, 5u);
  EXPECT_TRUE(q->open_only);
}

// Through the bus: a delivery that fails once and then succeeds leaves two
// attempts in the journal, and the `trace` request reads them.
TEST(trace_through_the_bus, a_retried_delivery_shows_both_attempts) {
  auto cfg = test::small_cluster();
  test::recording_port port;
  bus_setup s;
  s.node = "down";
  s.cfg = &cfg;
  s.epoch = 77;
  auto topo = topology_of(cfg);
  s.topo = std::make_shared<const topology>(std::move(*topo));
  s.services = {"b"};
  s.log = test::quiet_log();
  bus_core bus(std::move(s), port);
  bus.start();
  bus.on_events("up", {event_of("up", "B", 5, 1)});
  std::vector<answer> fail{answer_to(port.all_delivered("b")[0], outcome::transient)};
  bus.on_answers(fail);
  port.commit_all(bus);
  ASSERT_EQ(port.retries.size(), 1u);
  bus.on_retry_due(port.retries[0].second);
  std::vector<answer> ok{answer_to(port.all_delivered("b")[1], outcome::ok, {{"Done", json{{"x", 1}}, ""}})};
  bus.on_answers(ok);
  port.commit_all(bus);

  wire::control_request req;
  req.verb = "trace";
  req.what = "saga";
  req.args = json{{"id", "corr-1"}}.dump();
  bus.on_request("c", "", wire::encode(req));
  ASSERT_EQ(port.asks.size(), 1u);
  port.asks.front()(bus);
  ASSERT_EQ(port.replies.size(), 1u);
  auto rep = wire::decode_reply(port.replies[0].second, "trace");
  ASSERT_TRUE(rep);
  ASSERT_TRUE(rep->ok) << rep->body;
  auto body = json::parse(rep->body);
  EXPECT_EQ(body["node"], "down");
  std::vector<std::string> kinds;
  for (const auto& r : body["records"])
    kinds.push_back(r["kind"].get<std::string>() + ":" + r["type"].get<std::string>());
  // The attempt that failed, the one that succeeded, and the event it emitted.
  EXPECT_EQ(kinds, (std::vector<std::string>{"retry:B", "ok:B", "event:Done"}));
  EXPECT_EQ(body["records"][2]["causation"], "up-B-1");

  // A bad request is refused, not answered with an empty saga, and never
  // throws on the loop.
  for (const auto& args : {std::string("[]"), std::string("{\"id\": 5}"), std::string("{\"id\": \"x\", \"limit\": \"9\"}"),
                           std::string("{\"id\": \"x\", \"limit\": 0}"), std::string("not json")}) {
    req.args = args;
    const auto before = port.replies.size();
    bus.on_request("c", "", wire::encode(req));
    ASSERT_EQ(port.replies.size(), before + 1) << args;
    auto bad = wire::decode_reply(port.replies.back().second, "trace");
    ASSERT_TRUE(bad);
    EXPECT_FALSE(bad->ok) << args;
  }
  req.what = "sagas";
  for (const auto& args : {std::string("{\"terminal\": \"A\"}"), std::string("{\"limit\": -1}"),
                           std::string("{\"ids\": [1]}")}) {
    req.args = args;
    const auto before = port.replies.size();
    bus.on_request("c", "", wire::encode(req));
    ASSERT_EQ(port.replies.size(), before + 1) << args;
    auto bad = wire::decode_reply(port.replies.back().second, "trace");
    ASSERT_TRUE(bad);
    EXPECT_FALSE(bad->ok) << args;
  }
}

}  // namespace
}  // namespace troupe::runtime
