// The control protocol: requests to a node's ROUTER socket and their replies.
//
// A request is one MessagePack array `[version, verb, ...]`; so is a reply,
// `[version, "ok", body]` or `[version, "error", message]`. Verbs:
//   put    [entries]                   → [[event id, error code, error message] per entry]
//          entry = [source, detail-type, detail map, correlation-id, resources
//                   (, idempotency-key)]
//   query  service, what, args (JSON)  → JSON text
//   status                             → JSON text
// PutEvents is modelled on EventBridge's: each entry gets an id or an error.
#pragma once

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
};

/// One entry's answer, as EventBridge's PutEventsResultEntry: an event id,
/// which means the event is stored, or an ErrorCode and ErrorMessage.
struct put_result {
  std::string id;
  std::string error_code;
  std::string error_message;
  bool ok() const { return error_code.empty(); }
  std::string error() const { return error_code + ": " + error_message; }
};

struct control_request {
  std::string verb;                // "put", "query", "status"
  std::vector<put_entry> entries;  // put
  std::string service, what, args; // query (args is JSON text)
};

struct control_reply {
  bool ok = false;
  std::string body;                 // JSON text (query, status) or error message
  std::vector<put_result> results;  // put
};

std::string encode(const control_request& r);
result<control_request> decode_request(std::string_view bytes);

std::string encode_reply(const control_reply& r, const std::string& verb);
result<control_reply> decode_reply(std::string_view bytes, const std::string& verb);

/// Limits on one PutEvents call, as EventBridge's (10 entries) but larger
/// since there is no per-call price here.
inline constexpr std::size_t max_put_entries = 1000;
/// The largest idempotency key, and the largest reply body (a query
/// answering thousands of rows). A request is at most max_request_bytes
/// (wire/limits.hpp).
inline constexpr std::size_t max_idempotency_key = 256;
inline constexpr std::size_t max_reply_body = 32 * 1024 * 1024;

} // namespace troupe::wire
