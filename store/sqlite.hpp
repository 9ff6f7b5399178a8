// A thin RAII layer over SQLite: one owning handle per database and per
// prepared statement, errors as values with the database's own message.
//
// Only what troupe's stores need: open with a durability level, prepared
// statements with positional binds, stepping, and transactions. Nothing
// here is shared between threads: a database belongs to its one writer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wire/error.hpp"

namespace troupe::store {

/// The store's errors.
enum class errc {
  io,           // SQLite or the file system failed (busy, full disk, ...): retryable
  corrupt,      // the file is not a readable database, or is damaged
  bad_version,  // written by another troupe version
  full,         // past what the store's keys can number (streams, seq)
};

struct errc_codes {
  static constexpr const char* module = "store";
  static const char* name(int code);
  static bool retryable(int code) { return code == static_cast<int>(errc::io); }
};

} // namespace troupe::store

TROUPE_ERROR_CODES(troupe::store, errc, errc_codes);

struct sqlite3;
struct sqlite3_stmt;

namespace troupe::store {

/// How hard a commit tries to survive: `fsync` (WAL, synchronous=FULL)
/// survives power loss; `os` (WAL, synchronous=OFF: a commit is in the
/// page cache when it returns, nothing is ever fsynced) survives `kill -9`
/// of the process but not a crash of the machine; `none` keeps everything
/// in memory (benchmarks).
enum class durability { fsync, os, none };

std::optional<durability> parse_durability(std::string_view s);
const char* to_string(durability d);

class statement {
 public:
  statement() = default;
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  statement& bind(int index, std::int64_t v);
  statement& bind(int index, std::string_view text);
  statement& bind_blob(int index, std::string_view bytes);
  statement& bind_null(int index);
  /// As bind and bind_blob, but SQLite keeps a pointer to the bytes instead
  /// of a copy: for a statement bound and run in one go, whose bytes live
  /// until run() (or reset()) returns.
  statement& bind_borrowed(int index, std::string_view text);
  statement& bind_blob_borrowed(int index, std::string_view bytes);

  /// Steps once: true while a row is available, false when done. Fails
  /// with the database's message.
  result<bool> step();
  /// Steps until done, then resets for reuse.
  result<void> run();
  void reset();

  std::int64_t int64(int col) const;
  std::string text(int col) const;
  std::string_view blob(int col) const;  // valid until the next step
  bool is_null(int col) const;

 private:
  friend class database;
  statement(sqlite3_stmt* s, sqlite3* db) : stmt_(s), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  sqlite3* db_ = nullptr;
};

class database {
 public:
  /// Opens (creating if needed) `path` with the given durability; `none`
  /// ignores the path and lives in memory. Fails with `io` and SQLite's
  /// message; a file that is not a database, or is corrupt, fails here
  /// rather than being silently replaced.
  static result<database> open(const std::string& path, durability d);

  /// Opens an existing database for reading only (WAL lets it read while
  /// the node writes).
  static result<database> open_read_only(const std::string& path);

  database() = default;
  database(database&& other) noexcept;
  database& operator=(database&& other) noexcept;
  database(const database&) = delete;
  database& operator=(const database&) = delete;
  ~database();

  /// Runs one or more statements without results.
  result<void> exec(std::string_view sql);
  result<statement> prepare(std::string_view sql);

  result<void> begin() { return exec("BEGIN IMMEDIATE"); }
  result<void> commit() { return exec("COMMIT"); }
  result<void> rollback() { return exec("ROLLBACK"); }

  std::string last_error() const;
  sqlite3* handle() const { return db_; }

  /// PRAGMA quick_check: fails with what it found unless the answer is "ok".
  result<void> check_integrity();

 private:
  sqlite3* db_ = nullptr;
};

} // namespace troupe::store
