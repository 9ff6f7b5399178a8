// The control protocol: requests to a node's ROUTER socket and their replies.
//
// A request is one MessagePack array `[version, verb, ...]`; so is a reply,
// `[version, "ok", body]` or `[version, "error", message]`. Verbs:
//   put    [entries]                   → [[event id, error code, error message] per entry]
//          entry = [source, detail-type, detail map, correlation-id, resources
//                   (, idempotency-key (, time))]
//          idempotency-key = a string, or nil for none when a time follows
//          time = the event's time, milliseconds since the Unix epoch
//   query  service, what, args (JSON)  → JSON text
//   status                             → JSON text
//   trace  what, args (JSON)           → JSON text: the node's trace journal
//          what = "saga", args = {"id": correlation id, "limit"?}
//               → {node, now_ms, records, pending, unacked, truncated}
//          what = "sagas", args = {terminal?, ids?, quiet_before_ms?,
//                 open_only?, since_ms?, limit?}
//               → {node, now_ms, sagas, pending, unacked, truncated}
//   read   services, after, limit      → [rows, next, inbox, outbox]
//          services = [service...]: only their rows (empty: every service's)
//          after = [] or [service, table, key]: the rows after this one
//          limit = rows at most (1 to max_read_rows); a page also stops
//                  past read_page_bytes, and always holds one row
//          rows = [[service, table, key, value (JSON text)]...], in
//                 (service, table, key) order
//          next = [] (no more rows) or [service, table, key]: `after`
//                 for the next page
//          inbox = deliveries in the inbox
//          outbox = [[stream, unacked, expired]...]: events kept per
//                 stream, and how many of them are older than the
//                 stream's maximum event age on the node's own clock
// PutEvents is modelled on EventBridge's: each entry gets an id or an error.
// `read` is a node's store as `troupe audit` sees it, a page at a time so
// that no reply grows with the store; pages are read one by one, not in
// one snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wire/error.hpp"
#include "wire/limits.hpp"

namespace troupe::wire {

inline constexpr std::uint32_t control_version = 1;

struct put_entry {
  std::string source;
  std::string detail_type;
  std::string detail;  // MessagePack bytes of a map
  std::string correlation_id;
  std::vector<std::string> resources;
  // Optional. The same key again, with the same content, answers the same
  // event id and makes nothing new; with other content it is an error.
  // (EventBridge has no such key, so its clients cannot retry safely.)
  std::string idempotency_key;
  // Optional: the event's time (EventBridge's Time), milliseconds since the
  // Unix epoch; 0 is the time the node takes it. It bounds the event's age
  // like any event's, so a node takes it only within put_time_window.
  std::int64_t time_ms = 0;
};

/// How far an entry's time may be from the node's clock: an event's age
/// starts at its time, and bounds its retries and how long it is kept.
inline constexpr std::int64_t put_time_past_ms = 24 * 3600 * 1000;
inline constexpr std::int64_t put_time_future_ms = 5 * 60 * 1000;

/// One entry's answer, as EventBridge's PutEventsResultEntry: an event id,
/// which means the event is stored, or an ErrorCode and ErrorMessage.
struct put_result {
  std::string id;
  std::string error_code;
  std::string error_message;
  bool ok() const { return error_code.empty(); }
  std::string error() const { return error_code + ": " + error_message; }
};

/// Where a row of a service's state is: rows are read in this order.
struct state_key {
  std::string service, table, key;
  friend bool operator==(const state_key& a, const state_key& b) {
    return a.service == b.service && a.table == b.table && a.key == b.key;
  }
  friend bool operator!=(const state_key& a, const state_key& b) { return !(a == b); }
};

/// One row of a service's state, its value as JSON text.
struct state_entry {
  state_key at;
  std::string value;
};

/// The events a node keeps of one of its streams: not yet acked by every
/// consumer; `expired` of them are past the stream's maximum event age.
struct stream_backlog {
  std::string stream;
  std::uint64_t unacked = 0;
  std::uint64_t expired = 0;
};

/// One page of a `read`.
struct read_page {
  std::vector<state_entry> rows;
  std::optional<state_key> next;  // the last row, when more may follow
  std::uint64_t inbox = 0;
  std::vector<stream_backlog> outbox;
};

struct control_request {
  std::string verb;                // "put", "query", "status", "read", "trace"
  std::vector<put_entry> entries;  // put
  std::string service, what, args; // query (args is JSON text); trace: what, args
  std::vector<std::string> services;  // read: only these (empty: all)
  std::optional<state_key> after;     // read: from the row after this one
  std::uint32_t limit = 0;            // read: rows at most
};

struct control_reply {
  bool ok = false;
  std::string body;                 // JSON text (query, status) or error message
  std::vector<put_result> results;  // put
  read_page page;                   // read
};

std::string encode(const control_request& r);
result<control_request> decode_request(std::string_view bytes);

std::string encode_reply(const control_reply& r, const std::string& verb);
result<control_reply> decode_reply(std::string_view bytes, const std::string& verb);

/// Limits on one PutEvents call, as EventBridge's (10 entries) but larger
/// since there is no per-call price here.
inline constexpr std::size_t max_put_entries = 1000;
/// How deep a put entry's detail may nest before the whole call is
/// refused; within it, a detail deeper than max_detail_depth (or not a
/// map) is that entry's MalformedDetail.
inline constexpr std::size_t put_detail_depth = 64;
/// The largest idempotency key, and the largest reply body (a query
/// answering thousands of rows). A request is at most max_request_bytes
/// (wire/limits.hpp).
inline constexpr std::size_t max_idempotency_key = 256;
inline constexpr std::size_t max_reply_body = 32 * 1024 * 1024;

/// A read asks for at most max_read_rows rows and names at most
/// max_read_services services, each a string of 1 to max_string_bytes
/// (as a stream's name). A node stops adding rows to a page past
/// read_page_bytes (counting each row's strings), far under max_reply_body
/// even with its largest row on top.
inline constexpr std::uint32_t max_read_rows = 10000;
inline constexpr std::size_t max_read_services = 64;
inline constexpr std::size_t read_page_bytes = 4 * 1024 * 1024;

} // namespace troupe::wire
