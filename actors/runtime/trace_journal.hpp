// A node's trace journal: what `troupe trace` and `troupe sagas` read.
//
// Every event a node originates, and every attempt of a delivery to one of
// its targets, leaves one record in its store's `trace` table, written in
// the transaction that commits it (so a record exists exactly when what it
// records happened). Records are keyed by correlation id; a node keeps them
// for the config's `observability.trace-retention` and at most
// `trace-records` of them.
//
// Reading runs on a connection of its own (as `read` pages do), never the
// writer's; the bus adds what only it knows (which consumers have not
// acked an event) before it answers.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/runtime/delivery.hpp"
#include "store/node_store.hpp"
#include "store/sqlite.hpp"
#include "wire/envelope.hpp"

namespace troupe::runtime {

/// The record of event `ev`, which this node just originated.
store::trace_row event_record(const wire::envelope& ev);

/// The record of an attempt of delivery `a.d` that ended as `outcome` (a
/// kind other than event); `due_ms` is when it is retried (retry only).
store::trace_row attempt_record(const answer& a, store::trace_row::kind_t outcome, std::int64_t due_ms = 0);

/// How the journal names a record's kind: event, ok, retry, failed, expired.
const char* kind_name(int kind);

/// A record as JSON: {kind, at_ms, event, type, ...}.
nlohmann::json record_json(const store::trace_row& row);

/// What a node answers for one saga: its records (oldest first, at most
/// `limit`), and its inbox rows of the saga (deliveries waiting here, held
/// for a retry or not yet run): {records: [...], pending: [...],
/// truncated: bool}.
result<nlohmann::json> read_saga(store::database& db, const std::string& corr, std::size_t limit);

/// Which sagas a `sagas` request asks about.
struct sagas_query {
  std::vector<std::string> terminal;  // detail-types that end a saga
  std::vector<std::string> ids;       // only these (empty: every saga in the journal)
  std::int64_t quiet_before_ms = 0;   // only sagas whose last record here is older (0: any)
  bool open_only = false;             // only sagas with no terminal record here
  std::int64_t since_ms = 0;          // only sagas with a record since
  std::size_t limit = 1000;           // the newest at most
};

result<sagas_query> parse_sagas_query(const nlohmann::json& args);

/// Per saga: {id, first_ms, last_ms, events, attempts, retries, failures,
/// terminal, last: {event, type, kind}}, newest first; and the sagas with deliveries
/// in the inbox here ({pending: {corr: n}}). `truncated` when the limit cut.
result<nlohmann::json> read_sagas(store::database& db, const sagas_query& q);

/// The events of this node's streams past the given seqs (each stream with
/// the lowest seq its consumers acked), at most `limit` of them, from the
/// outbox: [{corr, event, type, seq}].
result<nlohmann::json> read_unacked(store::database& db,
                                    const std::vector<std::pair<std::string, std::uint64_t>>& streams,
                                    std::size_t limit);

/// For each stream (with the lowest seq its consumers acked), the time of
/// its oldest event kept past that seq, if any: [(stream, time_ms)].
result<std::vector<std::pair<std::string, std::int64_t>>> read_oldest_unacked(
    store::database& db, const std::vector<std::pair<std::string, std::uint64_t>>& streams);

}  // namespace troupe::runtime
