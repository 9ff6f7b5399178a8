// A node's store as the `read` control verb answers it (wire/control.hpp):
// a page of the services' state rows, in (service, table, key) order, with
// the inbox's size and the outbox's backlog per stream.
//
// It reads on a connection of its own (store::open_read_only), never the
// writer's: WAL lets it read while the node commits, and a node runs it on
// a thread apart from its wire thread, so that reading megabytes never
// stalls an event. `troupe audit --offline` reads a stopped node's store
// through the same functions, so both ways see the same thing.
//
// Nothing here is shared between threads: a database belongs to the one
// thread reading it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "store/sqlite.hpp"
#include "wire/control.hpp"

namespace troupe::runtime {

/// What one page holds.
struct page_bounds {
  std::vector<std::string> services;          // only these (empty: all)
  std::optional<wire::state_key> after;       // the rows after this one
  std::size_t limit = wire::max_read_rows;    // rows at most
  std::size_t max_bytes = wire::read_page_bytes;  // a page stops past this (but holds one row)
};

/// The maximum event age of a stream, as cluster::config::event_age_of.
using age_of_stream = std::function<std::chrono::milliseconds(const std::string& stream)>;

/// One page of `db`'s state rows, with its inbox count and the outbox
/// backlog measured at `now_ms` with the ages `age_of` gives. `next` is set
/// when the page is full (by rows or bytes), so more may follow. Fails with
/// the store's error, or `wire::errc::too_large` when one row alone could
/// not travel in a reply.
result<wire::read_page> read_store_page(store::database& db, const page_bounds& bounds, std::int64_t now_ms,
                                        const age_of_stream& age_of);

/// The same on a connection to the database at `path` opened for this
/// page alone (a node's reader, which keeps nothing open between pages).
result<wire::read_page> read_store_page(const std::string& path, const page_bounds& bounds, std::int64_t now_ms,
                                        const age_of_stream& age_of);

/// Every page of `db` at once (the offline audit, which has no reply to fit).
result<wire::read_page> read_whole_store(store::database& db, std::int64_t now_ms, const age_of_stream& age_of);

} // namespace troupe::runtime
