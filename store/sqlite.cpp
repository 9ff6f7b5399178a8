#include "store/sqlite.hpp"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include <utility>

namespace troupe::store {

std::optional<durability> parse_durability(std::string_view s) {
  if (s == "fsync")
    return durability::fsync;
  if (s == "os")
    return durability::os;
  if (s == "none")
    return durability::none;
  return std::nullopt;
}

const char* to_string(durability d) {
  switch (d) {
    case durability::fsync: return "fsync";
    case durability::os: return "os";
    case durability::none: return "none";
  }
  return "?";
}

namespace {

/// A damaged file stays damaged; anything else SQLite reports (busy, a
/// full disk, an I/O error) may pass.
errc code_of(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? errc::corrupt : errc::io;
}

} // namespace

// -- statement ------------------------------------------------------------------

statement::statement(statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(other.db_) {}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
    db_ = other.db_;
  }
  return *this;
}

statement::~statement() { sqlite3_finalize(stmt_); }

statement& statement::bind(int index, std::int64_t v) {
  sqlite3_bind_int64(stmt_, index, v);
  return *this;
}

statement& statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

statement& statement::bind_blob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

statement& statement::bind_borrowed(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  return *this;
}

statement& statement::bind_blob_borrowed(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  return *this;
}

statement& statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

result<bool> statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  std::string msg = sqlite3_errmsg(db_);
  sqlite3_reset(stmt_);
  return error{code_of(rc), "sqlite: " + msg};
}

result<void> statement::run() {
  for (;;) {
    auto r = step();
    if (!r) {
      reset();  // no borrowed bytes stay bound past the call
      return r.err();
    }
    if (!*r)
      break;
  }
  reset();
  return {};
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t statement::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string statement::text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string();
}

std::string_view statement::blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string_view();
}

bool statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

// -- database -------------------------------------------------------------------

database::database(database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

database& database::operator=(database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

database::~database() { sqlite3_close_v2(db_); }

std::string database::last_error() const { return db_ ? sqlite3_errmsg(db_) : "no database"; }

namespace {

// Waits out a lock another connection holds (in practice: the checkpointer
// for an instant) in steps of 50 µs, for at most 5 s. SQLite's own busy
// timeout sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries, which put
// up to 30 ms on a commit that waited a few microseconds (measured: a
// single hop's p99 at 5,000 events/s went from 6 ms to 1 ms).
int busy_wait(void*, int count) {
  if (count >= 100000)
    return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(50));
  return 1;
}

} // namespace

result<database> database::open(const std::string& path, durability d) {
  database db;
  const std::string target = d == durability::none ? ":memory:" : path;
  const int rc = sqlite3_open_v2(target.c_str(), &db.db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK)
    return error{errc::io, "cannot open " + target + ": " + db.last_error()};
  sqlite3_busy_handler(db.db_, &busy_wait, nullptr);
  // Reading the schema is what tells a database from garbage: do it now,
  // so that a corrupt file refuses to start instead of starting empty.
  if (auto r = db.exec("SELECT count(*) FROM sqlite_master"); !r)
    return error{errc::corrupt, target + " is not a readable SQLite database: " + r.err().message};
  if (d != durability::none) {
    if (auto r = db.exec("PRAGMA journal_mode=WAL"); !r)
      return r.err();
    // `os` promises to survive the death of the process, which the page
    // cache does; it cannot promise to survive the machine's (after a power
    // loss an origin could reuse seqs its peers already saw, whatever the
    // database kept), so it pays for no fsync, not even NORMAL's, whose
    // only fsyncs are at checkpoints: measured, they stalled commits
    // for up to 30 ms (single hop p99 at 5,000 events/s: 6 ms with NORMAL,
    // 1.1 ms with OFF).
    if (auto r = db.exec(d == durability::fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF"); !r)
      return r.err();
    // Pages are read through a memory map and kept in a 16 MiB cache, not
    // read again with pread on every statement (measured: pread was a
    // quarter of the writer's time).
    if (auto r = db.exec("PRAGMA mmap_size=268435456"); !r)
      return r.err();
  }
  if (auto r = db.exec("PRAGMA cache_size=-16384"); !r)
    return r.err();
  if (auto r = db.exec("PRAGMA temp_store=MEMORY"); !r)
    return r.err();
  return db;
}

result<database> database::open_read_only(const std::string& path) {
  database db;
  if (sqlite3_open_v2(path.c_str(), &db.db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
    return error{errc::io, "cannot open " + path + ": " + db.last_error()};
  sqlite3_busy_timeout(db.db_, 5000);
  if (auto r = db.exec("SELECT count(*) FROM sqlite_master"); !r)
    return error{errc::corrupt, path + " is not a readable SQLite database: " + r.err().message};
  return db;
}

result<void> database::check_integrity() {
  auto s = prepare("PRAGMA quick_check");
  if (!s)
    return s.err();
  std::string answer;
  for (;;) {
    auto row = s->step();
    if (!row)
      return row.err();
    if (!*row)
      break;
    answer += (answer.empty() ? "" : "; ") + s->text(0);
  }
  if (answer != "ok")
    return error{errc::corrupt, answer.empty() ? "no answer to quick_check" : answer};
  return {};
}

result<void> database::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string s(sql);
  if (const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string msg = err ? err : last_error();
    sqlite3_free(err);
    return error{code_of(rc), "sqlite: " + msg};
  }
  return {};
}

result<statement> database::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr)
      != SQLITE_OK)
    return error{errc::io, "sqlite: " + last_error() + " in: " + std::string(sql)};
  return statement(s, db_);
}

} // namespace troupe::store

namespace troupe::store {

const char* errc_codes::name(int code) {
  switch (static_cast<errc>(code)) {
    case errc::io: return "io";
    case errc::corrupt: return "corrupt";
    case errc::bad_version: return "bad_version";
    case errc::full: return "full";
  }
  return "unknown";
}

} // namespace troupe::store

TROUPE_ERROR_CATEGORY(troupe::store, errc, errc_codes)
