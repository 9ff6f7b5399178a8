#include "actors/runtime/store_read.hpp"

#include <limits>
#include <map>

namespace troupe::runtime {

namespace {

/// A row's share of a reply: its strings and MessagePack's headers.
std::size_t row_bytes(const wire::state_entry& e) {
  return e.at.service.size() + e.at.table.size() + e.at.key.size() + e.value.size() + 24;
}

/// The state query for `bounds`: after a row (a row-value comparison,
/// which walks the primary key from there), among some services, one row
/// past the limit to tell whether more follow.
std::string state_sql(const page_bounds& bounds) {
  std::string sql = "SELECT service, tbl, key, value FROM state WHERE 1";
  if (bounds.after)
    sql += " AND (service, tbl, key) > (?, ?, ?)";
  if (!bounds.services.empty()) {
    sql += " AND service IN (";
    for (std::size_t i = 0; i < bounds.services.size(); ++i)
      sql += i ? ", ?" : "?";
    sql += ")";
  }
  return sql + " ORDER BY service, tbl, key LIMIT ?";
}

result<void> read_rows(store::database& db, const page_bounds& bounds, wire::read_page& page) {
  auto s = db.prepare(state_sql(bounds));
  TROUPE_TRY(s);
  int i = 1;
  if (bounds.after) {
    s->bind(1, bounds.after->service).bind(2, bounds.after->table).bind(3, bounds.after->key);
    i = 4;
  }
  for (const auto& service : bounds.services)
    s->bind(i++, service);
  const bool unbounded = bounds.limit >= static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  s->bind(i, unbounded ? std::int64_t{-1} : static_cast<std::int64_t>(bounds.limit) + 1);
  std::size_t bytes = 0;
  for (;;) {
    auto row = s->step();
    TROUPE_TRY(row);
    if (!*row)
      return {};
    wire::state_entry e{{s->text(0), s->text(1), s->text(2)}, s->text(3)};
    if (page.rows.size() == bounds.limit || (!page.rows.empty() && bytes > bounds.max_bytes)) {
      page.next = page.rows.back().at;  // a row follows that this page has no room for
      return {};
    }
    bytes += row_bytes(e);
    if (bounds.max_bytes != SIZE_MAX && row_bytes(e) > wire::max_reply_body / 2)
      return error{wire::errc::too_large, "state row " + e.at.service + "/" + e.at.table + "/" + e.at.key + " has "
                                              + std::to_string(e.value.size())
                                              + " bytes, more than a reply can carry"};
    page.rows.push_back(std::move(e));
  }
}

result<void> read_summary(store::database& db, std::int64_t now_ms, const age_of_stream& age_of,
                          wire::read_page& page) {
  auto inbox = db.prepare("SELECT count(*) FROM inbox");
  TROUPE_TRY(inbox);
  auto counted = inbox->step();
  TROUPE_TRY(counted);
  page.inbox = *counted ? static_cast<std::uint64_t>(inbox->int64(0)) : 0;
  // One pass over the outbox; each stream's age is asked once.
  auto s = db.prepare("SELECT stream, time_ms FROM outbox");
  TROUPE_TRY(s);
  std::map<std::string, std::pair<wire::stream_backlog, std::int64_t>> by_stream;  // with its age
  for (;;) {
    auto row = s->step();
    TROUPE_TRY(row);
    if (!*row)
      break;
    auto stream = s->text(0);
    auto it = by_stream.find(stream);
    if (it == by_stream.end()) {
      const auto age = age_of(stream).count();
      it = by_stream.emplace(stream, std::pair{wire::stream_backlog{stream, 0, 0}, age}).first;
    }
    auto& [backlog, age] = it->second;
    ++backlog.unacked;
    if (now_ms - s->int64(1) > age)
      ++backlog.expired;
  }
  for (auto& [stream, b] : by_stream)
    page.outbox.push_back(std::move(b.first));
  return {};
}

} // namespace

result<wire::read_page> read_store_page(store::database& db, const page_bounds& bounds, std::int64_t now_ms,
                                        const age_of_stream& age_of) {
  wire::read_page page;
  // One read transaction: the rows and the counts agree with each other.
  TROUPE_TRY(db.exec("BEGIN"));
  auto r = read_rows(db, bounds, page);
  if (r)
    r = read_summary(db, now_ms, age_of, page);
  (void)db.exec("COMMIT");
  if (!r)
    return r.err();
  return page;
}

result<wire::read_page> read_store_page(const std::string& path, const page_bounds& bounds, std::int64_t now_ms,
                                        const age_of_stream& age_of) {
  auto db = store::database::open_read_only(path);
  if (!db)
    return db.err();
  return read_store_page(*db, bounds, now_ms, age_of);
}

result<wire::read_page> read_whole_store(store::database& db, std::int64_t now_ms, const age_of_stream& age_of) {
  page_bounds all;
  all.limit = SIZE_MAX;
  all.max_bytes = SIZE_MAX;
  return read_store_page(db, all, now_ms, age_of);
}

} // namespace troupe::runtime
