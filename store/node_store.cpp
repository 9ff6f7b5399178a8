#include "store/node_store.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>

namespace troupe::store {

namespace {

constexpr int schema_version = 4;

// Each upgrade is one transaction: a kill halfway leaves the old schema.
// Version 1 had no retry state in the inbox.
const char* upgrade_from_1 = R"(
BEGIN IMMEDIATE;
ALTER TABLE inbox ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE inbox ADD COLUMN due_ms INTEGER NOT NULL DEFAULT 0;
UPDATE meta SET value = '2' WHERE key = 'schema';
COMMIT;
)";

// Version 2 did not keep when a delivery was first tried, nor where a
// redriven delivery's age starts.
const char* upgrade_from_2 = R"(
BEGIN IMMEDIATE;
ALTER TABLE inbox ADD COLUMN first_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbox ADD COLUMN age_from_ms INTEGER NOT NULL DEFAULT 0;
UPDATE meta SET value = '3' WHERE key = 'schema';
COMMIT;
)";

// Version 3 keyed the outbox by (stream, seq) in a WITHOUT ROWID table.
// Its upgrade numbers the streams and moves the events to integer keys;
// `open` runs only the parts a store still needs (a store that lacked the
// tables got them in the new layout from `schema`).
const char* upgrade_streams_from_3 = "ALTER TABLE streams ADD COLUMN num INTEGER;";
const char* upgrade_outbox_from_3 = R"(
INSERT OR IGNORE INTO streams (stream, head) SELECT stream, max(seq) FROM outbox GROUP BY stream;
UPDATE streams SET num = (SELECT count(*) FROM streams s WHERE s.stream <= streams.stream);
CREATE TABLE outbox_v4 (
  k INTEGER PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,
  bytes BLOB NOT NULL);
INSERT INTO outbox_v4 (k, stream, seq, time_ms, bytes)
  SELECT (s.num << 44) | o.seq, o.stream, o.seq, o.time_ms, o.bytes
  FROM outbox o JOIN streams s ON s.stream = o.stream;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
)";

constexpr int seq_bits = 44;  // 1.7e13 events a stream; 2^19 streams a node
constexpr std::int64_t max_streams = (std::int64_t{1} << (63 - seq_bits)) - 1;
constexpr std::int64_t max_seq = (std::int64_t{1} << seq_bits) - 1;

const char* schema = R"(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, head INTEGER NOT NULL, num INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  k INTEGER PRIMARY KEY, stream TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,
  bytes BLOB NOT NULL);
DROP INDEX IF EXISTS outbox_time;
CREATE TABLE IF NOT EXISTS inbox (
  id INTEGER PRIMARY KEY, target TEXT NOT NULL, rule TEXT NOT NULL, bytes BLOB NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 1, due_ms INTEGER NOT NULL DEFAULT 0,
  first_ms INTEGER NOT NULL DEFAULT 0, age_from_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cursors (
  origin TEXT NOT NULL, stream TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (origin, stream)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acks (
  peer TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (peer, stream)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
  key TEXT PRIMARY KEY, event_id TEXT NOT NULL, digest INTEGER NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_ms);
CREATE TABLE IF NOT EXISTS state (
  service TEXT NOT NULL, tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (service, tbl, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trace (
  id INTEGER PRIMARY KEY, corr TEXT NOT NULL, at_ms INTEGER NOT NULL, kind INTEGER NOT NULL,
  event TEXT NOT NULL, type TEXT NOT NULL, rec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS trace_corr ON trace (corr);
)";

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}


} // namespace

// -- txn -------------------------------------------------------------------------

statement& txn::stmt(const char* sql) {
  auto it = cache_->find(sql);
  if (it != cache_->end()) {
    it->second.reset();
    return it->second;
  }
  auto s = db_.prepare(sql);
  if (!s)
    throw std::runtime_error(s.err().message);  // a bug in a constant statement
  return cache_->emplace(sql, std::move(*s)).first->second;
}

result<std::optional<std::int64_t>> txn::stream_base(const std::string& stream, bool assign) {
  auto it = stream_nums_->find(stream);
  if (it == stream_nums_->end()) {
    std::int64_t num = 0;
    auto& q = stmt("SELECT num FROM streams WHERE stream = ?");
    q.bind(1, stream);
    auto row = q.step();
    TROUPE_TRY(row);
    if (*row && !q.is_null(0))
      num = q.int64(0);
    q.reset();
    if (num == 0) {
      if (!assign)
        return std::optional<std::int64_t>();
      auto& top = stmt("SELECT coalesce(max(num), 0) + 1 FROM streams");
      auto r = top.step();
      TROUPE_TRY(r);
      num = top.int64(0);
      top.reset();
      if (num > max_streams)
        return error{errc::full, "more than " + std::to_string(max_streams) + " streams"};
      auto& add = stmt("INSERT INTO streams (stream, head, num) VALUES (?, 0, ?) "
                           "ON CONFLICT (stream) DO UPDATE SET num = excluded.num");
      add.bind(1, stream).bind(2, num);
      TROUPE_TRY(add.run());
    }
    it = stream_nums_->emplace(stream, num).first;
  }
  return std::optional<std::int64_t>(it->second << seq_bits);
}

result<void> txn::outbox_append(const std::string& stream, std::uint64_t seq, std::int64_t time_ms,
                                std::string_view bytes) {
  if (seq > static_cast<std::uint64_t>(max_seq))
    return error{errc::full, "stream " + stream + ": seq " + std::to_string(seq) + " is past the outbox's keys"};
  auto base = stream_base(stream, true);
  TROUPE_TRY(base);
  auto& s = stmt("INSERT INTO outbox (k, stream, seq, time_ms, bytes) VALUES (?, ?, ?, ?, ?)");
  s.bind(1, **base | static_cast<std::int64_t>(seq)).bind_borrowed(2, stream).bind(3, static_cast<std::int64_t>(seq)).bind(4, time_ms).bind_blob_borrowed(5, bytes);
  return s.run();
}

result<void> txn::stream_head(const std::string& stream, std::uint64_t seq) {
  auto& s = stmt("INSERT INTO streams (stream, head) VALUES (?, ?) "
                    "ON CONFLICT (stream) DO UPDATE SET head = excluded.head");
  s.bind(1, stream).bind(2, static_cast<std::int64_t>(seq));
  return s.run();
}

result<std::int64_t> txn::inbox_add(const std::string& target, const std::string& rule, std::string_view bytes,
                                    const retry_state& r) {
  auto& s = stmt("INSERT INTO inbox (target, rule, bytes, attempt, due_ms, first_ms, age_from_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)");
  s.bind_borrowed(1, target).bind_borrowed(2, rule).bind_blob_borrowed(3, bytes).bind(4, static_cast<std::int64_t>(r.attempt));
  s.bind(5, r.due_ms).bind(6, r.first_ms).bind(7, r.age_from_ms);
  TROUPE_TRY(s.run());
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_.handle()));
}

result<void> txn::inbox_retry(std::int64_t id, const retry_state& r) {
  auto& s = stmt("UPDATE inbox SET attempt = ?, due_ms = ?, first_ms = ?, age_from_ms = ? WHERE id = ?");
  s.bind(1, static_cast<std::int64_t>(r.attempt)).bind(2, r.due_ms).bind(3, r.first_ms).bind(4, r.age_from_ms);
  s.bind(5, id);
  return s.run();
}

result<void> txn::inbox_done(std::int64_t id) {
  auto& s = stmt("DELETE FROM inbox WHERE id = ?");
  s.bind(1, id);
  return s.run();
}

result<void> txn::cursor_set(const std::string& origin, const std::string& stream, const cursor& c) {
  auto& s = stmt("INSERT INTO cursors (origin, stream, epoch, seq) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (origin, stream) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq");
  s.bind_borrowed(1, origin).bind_borrowed(2, stream).bind(3, static_cast<std::int64_t>(c.epoch)).bind(4, static_cast<std::int64_t>(c.seq));
  return s.run();
}

result<void> txn::ack_set(const std::string& peer, const std::string& stream, std::uint64_t seq) {
  auto& s = stmt("INSERT INTO acks (peer, stream, seq) VALUES (?, ?, ?) "
                    "ON CONFLICT (peer, stream) DO UPDATE SET seq = max(seq, excluded.seq)");
  s.bind(1, peer).bind(2, stream).bind(3, static_cast<std::int64_t>(seq));
  return s.run();
}

result<void> txn::state_put(const std::string& service, const std::string& table, const std::string& key,
                            const std::string& json) {
  auto& s = stmt("INSERT INTO state (service, tbl, key, value) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (service, tbl, key) DO UPDATE SET value = excluded.value");
  s.bind_borrowed(1, service).bind_borrowed(2, table).bind_borrowed(3, key).bind_borrowed(4, json);
  return s.run();
}

result<void> txn::state_erase(const std::string& service, const std::string& table, const std::string& key) {
  auto& s = stmt("DELETE FROM state WHERE service = ? AND tbl = ? AND key = ?");
  s.bind(1, service).bind(2, table).bind(3, key);
  return s.run();
}

result<std::vector<std::pair<std::uint64_t, std::string>>> txn::outbox_read(const std::string& stream,
                                                                             std::uint64_t from, std::size_t limit,
                                                                             std::size_t max_bytes) {
  std::size_t bytes = 0;
  std::vector<std::pair<std::uint64_t, std::string>> out;
  auto base = stream_base(stream, false);
  TROUPE_TRY(base);
  if (!*base || from > static_cast<std::uint64_t>(max_seq))
    return out;
  auto& s = stmt("SELECT seq, bytes FROM outbox WHERE k >= ? AND k <= ? ORDER BY k LIMIT ?");
  s.bind(1, **base | static_cast<std::int64_t>(from)).bind(2, **base | max_seq);
  s.bind(3, static_cast<std::int64_t>(limit));
  for (;;) {
    auto row = s.step();
    TROUPE_TRY(row);
    if (!*row)
      break;
    const auto blob = s.blob(1);
    if (!out.empty() && bytes + blob.size() > max_bytes)
      break;
    bytes += blob.size();
    out.emplace_back(static_cast<std::uint64_t>(s.int64(0)), std::string(blob));
  }
  s.reset();
  return out;
}

result<std::optional<idempotency_record>> txn::idempotency_get(const std::string& key) {
  auto& s = stmt("SELECT event_id, digest FROM idempotency WHERE key = ?");
  s.bind(1, key);
  auto row = s.step();
  TROUPE_TRY(row);
  std::optional<idempotency_record> out;
  if (*row)
    out = idempotency_record{s.text(0), static_cast<std::uint64_t>(s.int64(1))};
  s.reset();
  return out;
}

result<void> txn::idempotency_put(const std::string& key, const idempotency_record& r, std::int64_t expires_ms) {
  auto& s = stmt("INSERT OR REPLACE INTO idempotency (key, event_id, digest, expires_ms) VALUES (?, ?, ?, ?)");
  s.bind(1, key).bind(2, r.event_id).bind(3, static_cast<std::int64_t>(r.digest)).bind(4, expires_ms);
  return s.run();
}

result<std::int64_t> txn::idempotency_expire(std::int64_t now_ms, std::size_t limit) {
  auto& s = stmt("DELETE FROM idempotency WHERE key IN "
                     "(SELECT key FROM idempotency WHERE expires_ms < ? ORDER BY expires_ms LIMIT ?)");
  s.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
  TROUPE_TRY(s.run());
  return static_cast<std::int64_t>(sqlite3_changes(db_.handle()));
}

result<void> txn::trace_add(const trace_row& r) {
  auto& s = stmt("INSERT INTO trace (corr, at_ms, kind, event, type, rec) VALUES (?, ?, ?, ?, ?, ?)");
  s.bind_borrowed(1, r.corr).bind(2, r.at_ms).bind(3, static_cast<std::int64_t>(r.kind));
  s.bind_borrowed(4, r.event_id).bind_borrowed(5, r.type).bind_blob_borrowed(6, r.rec);
  return s.run();
}

result<std::int64_t> txn::trace_prune(std::int64_t before_ms, std::int64_t keep, std::size_t limit) {
  // Records are appended in time order (near enough: an attempt's end), so
  // the oldest rows by id are the ones to go.
  auto& s = stmt("DELETE FROM trace WHERE id IN (SELECT id FROM trace ORDER BY id LIMIT ?) "
                 "AND (at_ms < ? OR id <= (SELECT max(id) FROM trace) - ?)");
  s.bind(1, static_cast<std::int64_t>(limit)).bind(2, before_ms).bind(3, keep);
  TROUPE_TRY(s.run());
  return static_cast<std::int64_t>(sqlite3_changes(db_.handle()));
}

result<std::int64_t> txn::outbox_prune(const std::string& stream, std::uint64_t upto) {
  auto base = stream_base(stream, false);
  TROUPE_TRY(base);
  if (!*base)
    return std::int64_t{0};
  auto& s = stmt("DELETE FROM outbox WHERE k >= ? AND k <= ?");
  s.bind(1, **base).bind(2, **base | static_cast<std::int64_t>(std::min<std::uint64_t>(upto, max_seq)));
  TROUPE_TRY(s.run());
  return static_cast<std::int64_t>(sqlite3_changes(db_.handle()));
}

result<std::vector<expired_event>> txn::outbox_older(const std::string& stream, std::uint64_t after_seq,
                                                     std::int64_t before_ms, std::size_t limit) {
  std::vector<expired_event> out;
  auto base = stream_base(stream, false);
  TROUPE_TRY(base);
  if (!*base || after_seq >= static_cast<std::uint64_t>(max_seq))
    return out;
  auto& s = stmt("SELECT seq, bytes FROM outbox WHERE k > ? AND k <= ? AND time_ms < ? ORDER BY k LIMIT ?");
  s.bind(1, **base | static_cast<std::int64_t>(after_seq)).bind(2, **base | max_seq).bind(3, before_ms);
  s.bind(4, static_cast<std::int64_t>(limit));
  for (;;) {
    auto row = s.step();
    TROUPE_TRY(row);
    if (!*row)
      break;
    out.push_back({stream, static_cast<std::uint64_t>(s.int64(0)), std::string(s.blob(1))});
  }
  s.reset();
  return out;
}

result<void> txn::outbox_delete(const std::string& stream, std::uint64_t seq) {
  auto base = stream_base(stream, false);
  TROUPE_TRY(base);
  if (!*base || seq > static_cast<std::uint64_t>(max_seq))
    return {};
  auto& s = stmt("DELETE FROM outbox WHERE k = ?");
  s.bind(1, **base | static_cast<std::int64_t>(seq));
  return s.run();
}

result<std::vector<state_row>> txn::state_rows(const std::string& service) {
  auto& s = stmt("SELECT tbl, key, value FROM state WHERE service = ? ORDER BY tbl, key");
  s.bind(1, service);
  std::vector<state_row> out;
  for (;;) {
    auto row = s.step();
    TROUPE_TRY(row);
    if (!*row)
      break;
    out.push_back({s.text(0), s.text(1), s.text(2)});
  }
  s.reset();
  return out;
}

// -- the writer --------------------------------------------------------------------

struct node_store::impl {
  database db;
  std::unordered_map<const char*, statement> cache;
  std::map<std::string, std::int64_t> stream_nums;  // the outbox's stream numbers, as read or given
  std::vector<std::pair<job, completion>> queue;
  std::vector<std::pair<job, completion>> batch;  // the transaction being run
  bool committing = false;
  std::deque<job> chores;
  std::atomic<std::uint64_t> commits{0}, jobs{0};
  node_store* owner = nullptr;
  // BEGIN and COMMIT are prepared once, like every other statement of the
  // writer's (sqlite3_exec parsed them anew on every transaction).

  // The checkpointer: copies the WAL into the database file on its own
  // connection and thread, so that a commit never stalls on it (with
  // synchronous=NORMAL a checkpoint syncs the file; measured on the saga at
  // 500 bookings/s: p99 40 ms with the writer checkpointing, 18 ms without).
  database checkpoint_db;
  std::thread checkpointer;
  std::mutex mtx;  // the checkpointer's flags
  std::condition_variable checkpoint_cv;
  bool checkpoint_due = false;
  bool stopping = false;
  static constexpr int checkpoint_pages = 1000;  // SQLite's own default threshold
  static constexpr auto checkpoint_every = std::chrono::milliseconds(500);

  static int on_wal_commit(void* self, sqlite3*, const char*, int pages) {
    if (pages >= checkpoint_pages) {
      auto* me = static_cast<impl*>(self);
      {
        std::lock_guard<std::mutex> lock(me->mtx);
        me->checkpoint_due = true;
      }
      me->checkpoint_cv.notify_one();
    }
    return SQLITE_OK;
  }

  void run_checkpoints() {
    std::unique_lock<std::mutex> lock(mtx);
    while (!stopping) {
      checkpoint_cv.wait_for(lock, checkpoint_every, [&] { return stopping || checkpoint_due; });
      if (stopping)
        break;
      checkpoint_due = false;
      lock.unlock();
      // PASSIVE: copies what it can without blocking the writer; a frame it
      // cannot copy yet is copied next time.
      int log = 0, copied = 0;
      sqlite3_wal_checkpoint_v2(checkpoint_db.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
      lock.lock();
    }
  }

  void fail(const std::string& why) {
    if (owner->fatal)
      owner->fatal(why);
    std::abort();  // never reached when `fatal` exits; a store that cannot write must not go on
  }

  /// One transaction: every queued job and at most one chore, then each
  /// job's completion. Returns whether anything is queued again.
  bool commit_queued() {
    if (committing)
      fail("store: a completion asked for a commit inside one");
    if (queue.empty() && chores.empty())
      return false;
    committing = true;
    batch.swap(queue);
    // At most one chore a transaction: it never holds up much else.
    job chore;
    if (!chores.empty()) {
      chore = std::move(chores.front());
      chores.pop_front();
    }
    txn t(db);
    t.cache_ = &cache;
    t.stream_nums_ = &stream_nums;
    if (auto r = t.stmt("BEGIN IMMEDIATE").run(); !r)
      fail("store: cannot begin a transaction: " + r.err().message);
    // A job that throws is a failed job: fatal, with its reason, never
    // std::terminate on the thread that commits.
    const auto attempt = [&](const job& work) {
      try {
        if (auto r = work(t); !r)
          fail("store: " + r.err().message);
      } catch (const std::exception& e) {
        fail(std::string("store: a job threw: ") + e.what());
      }
    };
    for (auto& [work, done] : batch)
      attempt(work);
    if (chore)
      attempt(chore);
    if (auto r = t.stmt("COMMIT").run(); !r)
      fail("store: commit failed: " + r.err().message);
    commits.fetch_add(1, std::memory_order_relaxed);
    jobs.fetch_add(batch.size(), std::memory_order_relaxed);
    // A completion may queue more: into `queue`, for the next transaction.
    for (auto& [work, done] : batch)
      if (done)
        done();
    batch.clear();
    committing = false;
    return !queue.empty() || !chores.empty();
  }
};

node_store::node_store(std::unique_ptr<impl> p) : impl_(std::move(p)) { impl_->owner = this; }

node_store::~node_store() { stop(); }

void node_store::stop() {
  while (impl_->commit_queued()) {
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mtx);
    impl_->stopping = true;
  }
  impl_->checkpoint_cv.notify_one();
  if (impl_->checkpointer.joinable())
    impl_->checkpointer.join();
}

void node_store::submit_chore(job work) { impl_->chores.push_back(std::move(work)); }

void node_store::submit(job work, completion done) { impl_->queue.emplace_back(std::move(work), std::move(done)); }

bool node_store::commit_queued() { return impl_->commit_queued(); }

bool node_store::queued() const { return !impl_->queue.empty() || !impl_->chores.empty(); }

std::uint64_t node_store::commits() const { return impl_->commits.load(); }
std::uint64_t node_store::jobs() const { return impl_->jobs.load(); }

void node_store::for_each_state(const std::function<void(const std::string&, const std::string&,
                                                         const std::string&, const std::string&)>& fn) {
  submit([&](txn& t) -> result<void> {
    auto s = t.db().prepare("SELECT service, tbl, key, value FROM state ORDER BY service, tbl, key");
    TROUPE_TRY(s);
    for (;;) {
      auto row = s->step();
      TROUPE_TRY(row);
      if (!*row)
        break;
      fn(s->text(0), s->text(1), s->text(2), s->text(3));
    }
    return {};
  });
  while (commit_queued()) {
  }
}

namespace {

result<bool> has_column(database& db, const char* table, const char* column) {
  auto s = db.prepare(std::string("SELECT count(*) FROM pragma_table_info('") + table + "') WHERE name = '" + column
                      + "'");
  TROUPE_TRY(s);
  auto row = s->step();
  TROUPE_TRY(row);
  return *row && s->int64(0) > 0;
}

/// Schema 3 to 4, in one transaction: each part runs unless its table
/// already has the new column.
result<void> upgrade_from_3(database& db) {
  TROUPE_TRY(db.begin());
  const auto steps = [&]() -> result<void> {
    for (const auto& [table, column, sql] : {std::tuple{"streams", "num", upgrade_streams_from_3},
                                             std::tuple{"outbox", "k", upgrade_outbox_from_3}}) {
      auto done = has_column(db, table, column);
      TROUPE_TRY(done);
      if (*done)
        continue;
      if (sql == upgrade_outbox_from_3) {
        auto n = db.prepare("SELECT count(*) FROM (SELECT stream FROM streams UNION SELECT stream FROM outbox)");
        TROUPE_TRY(n);
        auto row = n->step();
        TROUPE_TRY(row);
        if (n->int64(0) > max_streams)
          return error{errc::full, "more than " + std::to_string(max_streams) + " streams to number"};
      }
      TROUPE_TRY(db.exec(sql));
    }
    return db.exec("UPDATE meta SET value = '4' WHERE key = 'schema'");
  };
  if (auto r = steps(); !r) {
    (void)db.rollback();
    return r;
  }
  return db.commit();
}

result<void> read_snapshot(database& db, snapshot& out) {
  // Epoch: made once, when the database is created.
  {
    auto s = db.prepare("SELECT value FROM meta WHERE key = 'epoch'");
    TROUPE_TRY(s);
    auto row = s->step();
    TROUPE_TRY(row);
    if (*row) {
      out.epoch = static_cast<std::uint64_t>(std::stoull(s->text(0)));
    } else {
      out.fresh = true;
      out.epoch = static_cast<std::uint64_t>(now_ms());
      auto ins = db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?), ('schema', ?)");
      TROUPE_TRY(ins);
      ins->bind(1, std::to_string(out.epoch)).bind(2, std::to_string(schema_version));
      TROUPE_TRY(ins->run());
    }
  }
  {
    auto s = db.prepare("SELECT value FROM meta WHERE key = 'schema'");
    TROUPE_TRY(s);
    auto row = s->step();
    TROUPE_TRY(row);
    if (!*row || s->text(0) != std::to_string(schema_version))
      return error{errc::bad_version, "the database was written by another troupe version (schema "
                                          + (*row ? s->text(0) : std::string("?")) + ")"};
  }
  auto each = [&](const char* sql, const std::function<void(statement&)>& fn) -> result<void> {
    auto s = db.prepare(sql);
    TROUPE_TRY(s);
    for (;;) {
      auto row = s->step();
      TROUPE_TRY(row);
      if (!*row)
        return {};
      fn(*s);
    }
  };
  std::map<std::string, std::int64_t> nums;
  TROUPE_TRY(each("SELECT stream, head, num FROM streams", [&](statement& s) {
    out.heads[s.text(0)] = static_cast<std::uint64_t>(s.int64(1));
    if (!s.is_null(2))
      nums[s.text(0)] = s.int64(2);
  }));
  TROUPE_TRY(each("SELECT origin, stream, epoch, seq FROM cursors", [&](statement& s) {
    out.cursors[{s.text(0), s.text(1)}] = cursor{static_cast<std::uint64_t>(s.int64(2)),
                                                 static_cast<std::uint64_t>(s.int64(3))};
  }));
  TROUPE_TRY(each("SELECT peer, stream, seq FROM acks",
           [&](statement& s) { out.acks[{s.text(0), s.text(1)}] = static_cast<std::uint64_t>(s.int64(2)); }));
  TROUPE_TRY(each("SELECT id, target, rule, bytes, attempt, due_ms, first_ms, age_from_ms FROM inbox ORDER BY id",
           [&](statement& s) {
             out.inbox.push_back(inbox_row{s.int64(0), s.text(1), s.text(2), std::string(s.blob(3)),
                                           retry_state{static_cast<int>(s.int64(4)), s.int64(5), s.int64(6),
                                                       s.int64(7)}});
  }));
  // Each stream's oldest kept event: one probe of its key range (a GROUP
  // BY over the whole outbox would sort it, slow after a long outage).
  auto first = db.prepare("SELECT seq FROM outbox WHERE k >= ? AND k <= ? ORDER BY k LIMIT 1");
  TROUPE_TRY(first);
  for (const auto& [stream, num] : nums) {
    first->bind(1, num << seq_bits).bind(2, num << seq_bits | max_seq);
    auto row = first->step();
    TROUPE_TRY(row);
    if (*row)
      out.outbox_min[stream] = static_cast<std::uint64_t>(first->int64(0));
    first->reset();
  }
  return {};
}

} // namespace

result<std::unique_ptr<node_store>> node_store::open(const std::string& path, durability d, snapshot& out) {
  auto db = database::open(path, d);
  TROUPE_TRY(db);
  if (auto r = db->check_integrity(); !r)
    return error{errc::corrupt, path + " is damaged: " + r.err().message};
  TROUPE_TRY(db->exec(schema));
  {
    // A store written by the previous schema is upgraded in place.
    auto s = db->prepare("SELECT value FROM meta WHERE key = 'schema'");
    TROUPE_TRY(s);
    auto row = s->step();
    TROUPE_TRY(row);
    const auto version = *row ? s->text(0) : std::string();
    s->reset();
    if (version == "1")
      TROUPE_TRY(db->exec(upgrade_from_1));
    if (version == "1" || version == "2")
      TROUPE_TRY(db->exec(upgrade_from_2));
    // Also with no version at all: an older binary killed between making
    // its tables and writing `meta` left them in its own layout (the
    // upgrade changes nothing where the new layout is already there).
    if (version.empty() || version == "1" || version == "2" || version == "3")
      TROUPE_TRY(upgrade_from_3(*db));
  }
  if (auto r = read_snapshot(*db, out); !r)
    return error{r.err().code, path + ": " + r.err().message};
  auto p = std::make_unique<impl>();
  p->db = std::move(*db);
  if (d != durability::none) {
    auto c = database::open(path, d);
    TROUPE_TRY(c);
    p->checkpoint_db = std::move(*c);
    // Replaces SQLite's automatic checkpoint on the writer's connection.
    sqlite3_wal_hook(p->db.handle(), &impl::on_wal_commit, p.get());
  }
  auto* raw = p.get();
  std::unique_ptr<node_store> s(new node_store(std::move(p)));
  if (d != durability::none)
    raw->checkpointer = std::thread([raw] {
      pthread_setname_np(pthread_self(), "troupe.ckpt");
      raw->run_checkpoints();
    });
  return s;
}

result<database> open_read_only(const std::string& path) { return database::open_read_only(path); }

} // namespace troupe::store
