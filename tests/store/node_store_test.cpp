// The node store on a real SQLite file: retry state in the inbox survives a
// reopen, a store of the previous schema is upgraded in place, and chores
// run, one per transaction, without holding up jobs.
#include "store/node_store.hpp"

#include <gtest/gtest.h>


#include "tests/support/support.hpp"

namespace troupe::store {
namespace {

std::unique_ptr<node_store> open_store(const std::string& path, snapshot& snap) {
  auto s = node_store::open(path, durability::os, snap);
  EXPECT_TRUE(s) << (s ? "" : s.err().message);
  if (!s)
    return nullptr;
  (*s)->fatal = [](const std::string& why) { FAIL() << why; };
  return std::move(*s);
}

/// Runs `job` in a transaction of `s`, on this thread, and checks that its
/// completion ran after the commit.
void run(node_store& s, node_store::job job) {
  bool done = false;
  const auto before = s.commits();
  s.submit(std::move(job), [&] { done = s.commits() == before + 1; });
  while (s.commit_queued()) {
  }
  EXPECT_TRUE(done) << "the completion did not run once, after its commit";
}

TEST(node_store, retry_state_in_the_inbox_survives_a_reopen) {
  test::temp_dir dir;
  const auto path = (dir.path() / "node.db").string();
  std::int64_t parked = 0, fresh = 0;
  {
    snapshot snap;
    auto s = open_store(path, snap);
    ASSERT_TRUE(s);
    run(*s, [&](txn& t) -> result<void> {
      auto a = t.inbox_add("payment", "charge", "bytes-a", retry_state{3, 1795000000123, 0, 0});
      auto b = t.inbox_add("seat", "seat", "bytes-b");
      if (!a || !b)
        return error{errc::io, "insert failed"};
      parked = *a;
      fresh = *b;
      return t.inbox_retry(parked, retry_state{4, 1795000009999, 1795000000001, 1795000000000});
    });
  }
  snapshot snap;
  auto s = open_store(path, snap);
  ASSERT_TRUE(s);
  ASSERT_EQ(snap.inbox.size(), 2u);
  EXPECT_EQ(snap.inbox[0].id, parked);
  EXPECT_EQ(snap.inbox[0].target, "payment");
  EXPECT_EQ(snap.inbox[0].retry.attempt, 4);
  EXPECT_EQ(snap.inbox[0].retry.due_ms, 1795000009999);
  EXPECT_EQ(snap.inbox[0].retry.first_ms, 1795000000001);
  EXPECT_EQ(snap.inbox[0].retry.age_from_ms, 1795000000000);
  EXPECT_EQ(snap.inbox[1].id, fresh);
  EXPECT_EQ(snap.inbox[1].retry.attempt, 1);
  EXPECT_EQ(snap.inbox[1].retry.due_ms, 0);
  EXPECT_EQ(snap.inbox[1].retry.first_ms, 0);
}

/// A store as an older (or unknown) version wrote it: its meta table with
/// `epoch` and `schema`, then `sql`.
void write_store(const std::string& path, const std::string& epoch, const std::string& schema,
                 const std::string& sql) {
  auto db = database::open(path, durability::os);
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
                       "INSERT INTO meta VALUES ('epoch', '" + epoch + "'), ('schema', '" + schema + "');" + sql));
}

TEST(node_store, a_store_of_the_first_schema_is_upgraded_in_place) {
  test::temp_dir dir;
  const auto path = (dir.path() / "node.db").string();
  // What version 1 wrote: an inbox without retry state.
  write_store(path, "42", "1",
              "CREATE TABLE inbox (id INTEGER PRIMARY KEY, target TEXT NOT NULL, rule TEXT NOT NULL,"
              " bytes BLOB NOT NULL);"
              "INSERT INTO inbox (target, rule, bytes) VALUES ('payment', 'charge', x'00');");
  snapshot snap;
  auto s = open_store(path, snap);
  ASSERT_TRUE(s);
  EXPECT_EQ(snap.epoch, 42u);  // the same store, not a new one
  ASSERT_EQ(snap.inbox.size(), 1u);
  EXPECT_EQ(snap.inbox[0].retry.attempt, 1);
  EXPECT_EQ(snap.inbox[0].retry.due_ms, 0);
  run(*s, [&](txn& t) { return t.inbox_retry(snap.inbox[0].id, retry_state{2, 7, 5, 0}); });
}

TEST(node_store, a_store_of_the_second_schema_is_upgraded_in_place) {
  test::temp_dir dir;
  const auto path = (dir.path() / "node.db").string();
  // What version 2 wrote: retry state without first attempt or age start.
  write_store(path, "43", "2",
              "CREATE TABLE inbox (id INTEGER PRIMARY KEY, target TEXT NOT NULL, rule TEXT NOT NULL,"
              " bytes BLOB NOT NULL, attempt INTEGER NOT NULL DEFAULT 1, due_ms INTEGER NOT NULL DEFAULT 0);"
              "INSERT INTO inbox (target, rule, bytes, attempt, due_ms) VALUES ('payment', 'charge', x'00', 3, 99);");
  snapshot snap;
  auto s = open_store(path, snap);
  ASSERT_TRUE(s);
  EXPECT_EQ(snap.epoch, 43u);
  ASSERT_EQ(snap.inbox.size(), 1u);
  EXPECT_EQ(snap.inbox[0].retry.attempt, 3);
  EXPECT_EQ(snap.inbox[0].retry.due_ms, 99);
  EXPECT_EQ(snap.inbox[0].retry.first_ms, 0);
  run(*s, [&](txn& t) { return t.inbox_retry(snap.inbox[0].id, retry_state{4, 7, 5, 0}); });
}

/// The outbox's events of `stream` from `from` on, as "seq:bytes".
std::vector<std::string> outbox_of(node_store& s, const std::string& stream, std::uint64_t from = 1) {
  std::vector<std::string> out;
  run(s, [&](txn& t) -> result<void> {
    auto rows = t.outbox_read(stream, from, 100);
    if (!rows)
      return rows.err();
    for (const auto& [seq, bytes] : *rows)
      out.push_back(std::to_string(seq) + ":" + bytes);
    return {};
  });
  return out;
}

TEST(node_store, a_store_of_the_third_schema_is_upgraded_in_place) {
  test::temp_dir dir;
  const auto path = (dir.path() / "node.db").string();
  // What version 3 wrote: the outbox keyed by (stream, seq), streams
  // without numbers.
  write_store(path, "44", "3",
              "CREATE TABLE streams (stream TEXT PRIMARY KEY, head INTEGER NOT NULL) WITHOUT ROWID;"
              "CREATE TABLE outbox (stream TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
              " bytes BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;"
              "INSERT INTO streams VALUES ('PaymentConfirmed', 7), ('BookingCreated', 3);"
              "INSERT INTO outbox VALUES ('PaymentConfirmed', 6, 100, 'p6'), ('PaymentConfirmed', 7, 101, 'p7'),"
              " ('BookingCreated', 2, 102, 'b2'), ('BookingCreated', 3, 103, 'b3');");
  snapshot snap;
  auto s = open_store(path, snap);
  ASSERT_TRUE(s);
  EXPECT_EQ(snap.epoch, 44u);
  EXPECT_EQ(snap.heads, (std::map<std::string, std::uint64_t>{{"BookingCreated", 3}, {"PaymentConfirmed", 7}}));
  EXPECT_EQ(snap.outbox_min, (std::map<std::string, std::uint64_t>{{"BookingCreated", 2}, {"PaymentConfirmed", 6}}));
  EXPECT_EQ(outbox_of(*s, "PaymentConfirmed"), (std::vector<std::string>{"6:p6", "7:p7"}));
  EXPECT_EQ(outbox_of(*s, "BookingCreated"), (std::vector<std::string>{"2:b2", "3:b3"}));
  // Both streams go on, and a new one gets a number of its own.
  run(*s, [&](txn& t) -> result<void> {
    if (auto r = t.outbox_append("BookingCreated", 4, 104, "b4"); !r)
      return r;
    return t.outbox_append("SeatAssigned", 1, 105, "s1");
  });
  EXPECT_EQ(outbox_of(*s, "BookingCreated", 3), (std::vector<std::string>{"3:b3", "4:b4"}));
  EXPECT_EQ(outbox_of(*s, "SeatAssigned"), (std::vector<std::string>{"1:s1"}));
  EXPECT_EQ(outbox_of(*s, "PaymentConfirmed"), (std::vector<std::string>{"6:p6", "7:p7"}));
}

TEST(node_store, tables_of_the_third_schema_without_a_version_are_upgraded) {
  test::temp_dir dir;
  const auto path = (dir.path() / "node.db").string();
  // A version-3 node killed after making its tables, before writing meta.
  {
    auto db = database::open(path, durability::os);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("CREATE TABLE streams (stream TEXT PRIMARY KEY, head INTEGER NOT NULL) WITHOUT ROWID;"
                         "CREATE TABLE outbox (stream TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,"
                         " bytes BLOB NOT NULL, PRIMARY KEY (stream, seq)) WITHOUT ROWID;"
                         "INSERT INTO outbox VALUES ('Ping', 1, 100, 'p1');"));
  }
  snapshot snap;
  auto s = open_store(path, snap);
  ASSERT_TRUE(s);
  EXPECT_EQ(snap.outbox_min, (std::map<std::string, std::uint64_t>{{"Ping", 1}}));
  run(*s, [&](txn& t) { return t.outbox_append("Ping", 2, 101, "p2"); });
  EXPECT_EQ(outbox_of(*s, "Ping"), (std::vector<std::string>{"1:p1", "2:p2"}));
}

TEST(node_store, the_outbox_keeps_its_streams_apart) {
  test::temp_dir dir;
  const auto path = (dir.path() / "node.db").string();
  {
    snapshot snap;
    auto s = open_store(path, snap);
    ASSERT_TRUE(s);
    run(*s, [&](txn& t) -> result<void> {
      for (std::uint64_t seq = 1; seq <= 5; ++seq) {
        if (auto r = t.outbox_append("A", seq, static_cast<std::int64_t>(seq), "a" + std::to_string(seq)); !r)
          return r;
        if (auto r = t.outbox_append("B", seq, static_cast<std::int64_t>(10 * seq), "b" + std::to_string(seq)); !r)
          return r;
      }
      if (auto r = t.stream_head("A", 5); !r)
        return r;
      return t.stream_head("B", 5);
    });
    run(*s, [&](txn& t) -> result<void> {
      auto pruned = t.outbox_prune("A", 3);
      if (!pruned)
        return pruned.err();
      EXPECT_EQ(*pruned, 3);
      if (auto r = t.outbox_delete("B", 2); !r)
        return r;
      // Older than 40 ms after seq 1: seq 3 (30); 2 is gone, 4 is 40.
      auto old = t.outbox_older("B", 1, 40, 10);
      if (!old)
        return old.err();
      EXPECT_EQ(old->size(), 1u);
      EXPECT_EQ(old->front().seq, 3u);
      // A stream never written has nothing, and is not made up.
      auto none = t.outbox_read("C", 1, 10);
      if (!none)
        return none.err();
      EXPECT_TRUE(none->empty());
      auto pruned_none = t.outbox_prune("C", 10);
      if (!pruned_none)
        return pruned_none.err();
      EXPECT_EQ(*pruned_none, 0);
      return {};
    });
    EXPECT_EQ(outbox_of(*s, "A"), (std::vector<std::string>{"4:a4", "5:a5"}));
    EXPECT_EQ(outbox_of(*s, "B"), (std::vector<std::string>{"1:b1", "3:b3", "4:b4", "5:b5"}));
    EXPECT_EQ(outbox_of(*s, "B", 4), (std::vector<std::string>{"4:b4", "5:b5"}));
  }
  snapshot snap;
  auto s = open_store(path, snap);
  ASSERT_TRUE(s);
  EXPECT_EQ(snap.heads, (std::map<std::string, std::uint64_t>{{"A", 5}, {"B", 5}}));
  EXPECT_EQ(snap.outbox_min, (std::map<std::string, std::uint64_t>{{"A", 4}, {"B", 1}}));
  // After a reopen the streams keep their numbers.
  run(*s, [&](txn& t) { return t.outbox_append("A", 6, 6, "a6"); });
  EXPECT_EQ(outbox_of(*s, "A"), (std::vector<std::string>{"4:a4", "5:a5", "6:a6"}));
  EXPECT_EQ(outbox_of(*s, "B", 5), (std::vector<std::string>{"5:b5"}));
}

TEST(node_store, a_store_of_an_unknown_schema_is_refused) {
  test::temp_dir dir;
  const auto path = (dir.path() / "node.db").string();
  write_store(path, "42", "99", "");
  snapshot snap;
  auto s = node_store::open(path, durability::os, snap);
  ASSERT_FALSE(s);
  EXPECT_NE(s.err().message.find("schema 99"), std::string::npos) << s.err().message;
}

TEST(node_store, chores_run_one_per_transaction_and_all_of_them_run) {
  test::temp_dir dir;
  snapshot snap;
  auto s = open_store((dir.path() / "node.db").string(), snap);
  ASSERT_TRUE(s);
  int chores = 0;
  const auto before = s->commits();
  for (int i = 0; i < 3; ++i)
    s->submit_chore([&](txn&) -> result<void> {
      ++chores;
      return {};
    });
  int jobs = 0;
  for (int i = 0; i < 4; ++i)
    s->submit([&](txn&) -> result<void> {
      ++jobs;
      return {};
    });
  // The first transaction takes every job and one chore; each chore after
  // it has a transaction of its own.
  EXPECT_TRUE(s->commit_queued());
  EXPECT_EQ(jobs, 4);
  EXPECT_EQ(chores, 1);
  EXPECT_TRUE(s->commit_queued());
  EXPECT_EQ(chores, 2);
  EXPECT_FALSE(s->commit_queued()) << "the last chore ran: nothing is queued";
  EXPECT_EQ(chores, 3);
  EXPECT_FALSE(s->queued());
  EXPECT_FALSE(s->commit_queued()) << "nothing queued, nothing committed";
  EXPECT_EQ(s->commits() - before, 3u);
}

TEST(node_store, a_completion_that_queues_more_has_it_committed_next) {
  test::temp_dir dir;
  snapshot snap;
  auto s = open_store((dir.path() / "node.db").string(), snap);
  ASSERT_TRUE(s);
  std::vector<std::string> order;
  s->submit([&](txn& t) -> result<void> { return t.stream_head("A", 1); },
            [&] {
              order.push_back("first committed");
              s->submit([&](txn& t) -> result<void> { return t.stream_head("A", 2); },
                        [&] { order.push_back("second committed"); });
            });
  EXPECT_TRUE(s->commit_queued()) << "the completion queued a job";
  EXPECT_EQ(order, (std::vector<std::string>{"first committed"}));
  EXPECT_FALSE(s->commit_queued());
  EXPECT_EQ(order, (std::vector<std::string>{"first committed", "second committed"}));
  s.reset();
  snapshot again;
  auto reopened = open_store((dir.path() / "node.db").string(), again);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(again.heads["A"], 2u);
}

} // namespace
} // namespace troupe::store
