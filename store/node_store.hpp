// A node's durable store: one SQLite database (WAL) per node, written by
// one thread (the node's wire thread) in group transactions.
//
// It holds what makes redelivery harmless and nothing lost:
//   outbox   the events this node originated, per stream, until every node
//            that consumes the stream has acked them; keyed by one integer,
//            the stream's number above its seq, so that appending is
//            SQLite's cheapest insert (a rowid table's right edge, not a
//            WITHOUT ROWID b-tree carrying each 400-byte row in its
//            interior pages: measured 4.5 against 7.7 µs an event);
//   inbox    events accepted for a local target and not yet handled;
//   cursors  per (origin, stream): the origin's epoch and the last seq
//            accepted, which is also the dedup state;
//   acks     per (peer, stream): what each consumer has acked here;
//   state    the services' own rows;
//   idempotency  PutEvents' idempotency keys, each with the event id it
//            answered and a digest of the entry, kept for the longest
//            maximum event age.
// Work arrives as jobs; `commit_queued` runs every queued job in one
// transaction (group commit), then calls each job's completion, all on the
// caller's thread: the node's wire thread, between reading its sockets and
// sending what the completions gave it. Nothing else writes the database; a
// second connection checkpoints the WAL on a thread of its own.
#pragma once

#include <cstdint>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/sqlite.hpp"
#include "wire/error.hpp"

namespace troupe::store {

struct cursor {
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;  // last accepted
};

/// Where a delivery stands with its retry policy. Times are wall clock ms.
struct retry_state {
  int attempt = 1;             // the attempt it is due for
  std::int64_t due_ms = 0;     // 0: at once
  std::int64_t first_ms = 0;   // its first attempt; 0: not tried yet
  std::int64_t age_from_ms = 0;  // its age counts from here; 0: from the event's time
};

struct inbox_row {
  std::int64_t id = 0;  // rowid
  std::string target;   // service
  std::string rule;
  std::string bytes;    // encoded envelope
  retry_state retry;
};

/// An event of this node's that a consumer did not ack in time.
struct expired_event {
  std::string stream;
  std::uint64_t seq = 0;
  std::string bytes;  // encoded envelope
};

/// One row of a service's state.
struct state_row {
  std::string table, key, json;
};

/// What an idempotency key answered: its event, and a digest of the entry.
struct idempotency_record {
  std::string event_id;
  std::uint64_t digest = 0;
};

/// One record of a node's trace journal (the `trace` table), kept for
/// `troupe trace` and `troupe sagas`: an event this node originated, or how
/// one attempt of a delivery to a target here ended. `rec` is the rest as
/// MessagePack (actors/runtime/trace_journal.hpp reads and writes it).
struct trace_row {
  // An event, or an attempt and how it ended: ok, failed and retried when
  // due, failed for good (a dead letter, or dropped), or past its maximum
  // age before it ran.
  enum kind_t : int { event = 0, ok = 1, retry = 2, failed = 3, expired = 4 };
  std::string corr;
  std::int64_t at_ms = 0;  // the event's time; the attempt's end
  int kind = event;
  std::string event_id;
  std::string type;        // the event's detail-type
  std::string rec;
};

/// A job's view of the open transaction. Statements are prepared once.
class txn {
 public:
  explicit txn(database& db) : db_(db) {}
  database& db() { return db_; }

  result<void> outbox_append(const std::string& stream, std::uint64_t seq, std::int64_t time_ms,
                             std::string_view bytes);
  result<void> stream_head(const std::string& stream, std::uint64_t seq);
  /// Returns the new row's id.
  result<std::int64_t> inbox_add(const std::string& target, const std::string& rule, std::string_view bytes,
                                 const retry_state& r = {});
  /// Records where delivery `id` stands now: due for `r.attempt` at `r.due_ms`.
  result<void> inbox_retry(std::int64_t id, const retry_state& r);
  result<void> inbox_done(std::int64_t id);
  result<void> cursor_set(const std::string& origin, const std::string& stream, const cursor& c);
  result<void> ack_set(const std::string& peer, const std::string& stream, std::uint64_t seq);
  result<void> state_put(const std::string& service, const std::string& table, const std::string& key,
                         const std::string& json);
  result<void> state_erase(const std::string& service, const std::string& table, const std::string& key);
  /// Events of `stream` with seq >= from, in order: at most `limit`, and no
  /// more than `max_bytes` of them together (but always the first).
  result<std::vector<std::pair<std::uint64_t, std::string>>> outbox_read(const std::string& stream,
                                                                          std::uint64_t from, std::size_t limit,
                                                                          std::size_t max_bytes = SIZE_MAX);
  result<std::optional<idempotency_record>> idempotency_get(const std::string& key);
  result<void> idempotency_put(const std::string& key, const idempotency_record& r, std::int64_t expires_ms);
  /// Forgets at most `limit` keys that expired before `now_ms`; returns how many.
  result<std::int64_t> idempotency_expire(std::int64_t now_ms, std::size_t limit);
  /// Deletes events of `stream` with seq <= upto; returns how many.
  result<std::int64_t> outbox_prune(const std::string& stream, std::uint64_t upto);
  /// Events of `stream` after seq `after_seq` older than `before_ms`, in
  /// seq order, at most `limit`.
  result<std::vector<expired_event>> outbox_older(const std::string& stream, std::uint64_t after_seq,
                                                  std::int64_t before_ms, std::size_t limit);
  result<void> outbox_delete(const std::string& stream, std::uint64_t seq);
  result<void> trace_add(const trace_row& r);
  /// Forgets at most `limit` of the oldest trace records that are older
  /// than `before_ms` or beyond the newest `keep`; returns how many.
  result<std::int64_t> trace_prune(std::int64_t before_ms, std::int64_t keep, std::size_t limit);
  /// The rows of `service`'s state, in (table, key) order: what a restarted
  /// service is rebuilt from.
  result<std::vector<state_row>> state_rows(const std::string& service);

 private:
  friend class node_store;
  /// The prepared statement for `sql`, a string literal: prepared on first
  /// use, cached by the literal for the store's life.
  statement& stmt(const char* sql);
  /// The outbox keys of `stream` start at its number above the seq's 44
  /// bits: its first key (seq 0), given a number when `assign` and it has
  /// none yet; nothing when it has none (no event of it was ever kept).
  result<std::optional<std::int64_t>> stream_base(const std::string& stream, bool assign);
  database& db_;
  std::unordered_map<const char*, statement>* cache_ = nullptr;
  std::map<std::string, std::int64_t>* stream_nums_ = nullptr;
};

/// What the store held when it was opened.
struct snapshot {
  std::uint64_t epoch = 0;
  bool fresh = false;                                           // a new database: a new epoch
  std::map<std::string, std::uint64_t> heads;                   // own streams: last seq
  std::map<std::pair<std::string, std::string>, cursor> cursors;  // (origin, stream)
  std::map<std::pair<std::string, std::string>, std::uint64_t> acks;  // (peer, stream)
  std::vector<inbox_row> inbox;
  std::map<std::string, std::uint64_t> outbox_min;              // own streams: oldest kept seq
};

class node_store {
 public:
  using job = std::function<result<void>(txn&)>;
  using completion = std::function<void()>;

  /// Opens or creates the database at `path`, reads the snapshot, and starts
  /// the checkpointer. A file that is not a readable troupe database fails
  /// here: a node never silently starts empty on top of a damaged store.
  static result<std::unique_ptr<node_store>> open(const std::string& path, durability d, snapshot& out);

  ~node_store();
  node_store(const node_store&) = delete;
  node_store& operator=(const node_store&) = delete;

  /// Queues `work`; `done` runs after the transaction that included it
  /// committed. A failing job or commit is fatal: `fatal` (set before the
  /// first commit) is called with the reason. One thread at a time.
  void submit(job work, completion done = nullptr);

  /// Queues background work (pruning, say) that may wait: it runs in the
  /// transaction of some later commit, one chore per transaction, so that
  /// it never adds more than one chore's time to the jobs committed with it.
  /// A failing chore is fatal, as a job is.
  void submit_chore(job work);

  /// Runs every queued job and at most one chore in one transaction, on the
  /// caller's thread, then their completions (which may queue more).
  /// Returns whether anything is queued again.
  bool commit_queued();
  /// Whether anything waits for `commit_queued`.
  bool queued() const;

  /// Rows of every service's state, in (service, table, key) order.
  void for_each_state(const std::function<void(const std::string& service, const std::string& table,
                                               const std::string& key, const std::string& json)>& fn);

  std::function<void(const std::string&)> fatal;

  /// Commits so far and jobs per commit, for status.
  std::uint64_t commits() const;
  std::uint64_t jobs() const;

  /// Commits what is queued and stops the checkpointer.
  void stop();

 private:
  struct impl;
  explicit node_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Opens a node's database read-only, for `troupe audit`.
result<database> open_read_only(const std::string& path);

} // namespace troupe::store
