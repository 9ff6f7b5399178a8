// One size limit, end to end.
//
// An event is refused where it enters (PutEvents, a service's answer) or
// never: every later layer (the envelope encoder, the outbox, a SUB's
// ZMQ_MAXMSGSIZE, a replay batch, the DEALER that takes it, the decoder at
// the subscriber, the matcher) accepts anything the entry check accepted.
// The numbers all derive from the ones here; tests/wire/limits_test.cpp
// holds the layers to each other with the largest entries that pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/error.hpp"

namespace troupe::wire {

/// Limits for one untrusted MessagePack value: at most `items` elements per
/// container, `bytes` per string or binary, `depth` levels of nesting.
struct read_limits {
  std::size_t items = 4096;
  std::size_t bytes = 64 * 1024;
  std::size_t depth = 32;
};

/// An event entry, as EventBridge's PutEvents limits it: 256 KiB, counted
/// as EventBridge counts an entry (source, detail-type, detail, each
/// resource, 14 bytes for the time), plus troupe's correlation-id. The
/// detail counts as the MessagePack bytes troupe stores and sends, not as
/// JSON text.
inline constexpr std::size_t max_entry_bytes = 256 * 1024;
inline constexpr std::size_t entry_time_bytes = 14;

/// Each string field of an envelope but the detail.
inline constexpr std::size_t max_string_bytes = 4096;
inline constexpr std::size_t max_resources = 64;

/// Inside a detail: elements per array or map, and nesting (the detail map
/// itself is level 1). Refused at the entry, never later.
inline constexpr std::size_t max_detail_items = 65536;
inline constexpr std::size_t max_detail_depth = 24;
inline constexpr read_limits detail_limits{max_detail_items, max_entry_bytes, max_detail_depth};

/// An envelope adds what an entry does not count: the event id, origin,
/// epoch, seq, time and causation id (each string at most
/// max_string_bytes), and MessagePack headers.
inline constexpr std::size_t envelope_overhead = 4 * max_string_bytes;
inline constexpr std::size_t max_envelope_bytes = max_entry_bytes + envelope_overhead;

/// A SUB takes frames up to this (the topic frame is far smaller).
inline constexpr std::size_t max_event_frame = max_envelope_bytes + 1024;

/// A replay batch stops adding events past this many bytes (it always
/// carries at least one), and a DEALER to a peer takes messages up to
/// max_peer_message: a batch, its last event and the headers.
inline constexpr std::size_t replay_batch_bytes = 8 * 1024 * 1024;
inline constexpr std::size_t max_peer_message = replay_batch_bytes + max_envelope_bytes + 64 * 1024;

/// A control request (a PutEvents call with all its entries); a node's
/// ROUTER cuts a connection that sends more, so clients check first.
inline constexpr std::size_t max_request_bytes = 4 * 1024 * 1024;

/// The fields of one entry, as PutEvents takes it.
struct entry_view {
  std::string_view source, detail_type, detail, correlation_id;
  const std::vector<std::string>* resources = nullptr;
};

/// Its size as EventBridge counts it (see max_entry_bytes).
std::size_t entry_size(const entry_view& e);

/// Why an entry cannot become an event, in EventBridge's PutEvents terms:
/// `code` is an ErrorCode (InvalidArgument, MalformedDetail), `message`
/// says what is wrong. Empty code: the entry is fine.
struct entry_problem {
  std::string code;
  std::string message;
  explicit operator bool() const { return !code.empty(); }
};

/// Checks every limit an envelope made from `e` must meet, so that one
/// that passes encodes, is stored, travels and decodes everywhere.
entry_problem check_entry(const entry_view& e);

/// Checks that `detail` is the bytes of exactly one MessagePack map within
/// detail_limits.
result<void> check_detail(std::string_view detail);

/// Checks that every map in `detail` (one MessagePack value, checked by
/// check_detail) has string keys, each once. check_entry refuses the others
/// where events are made: the matcher takes every copy of a key (as
/// EventBridge's), services read one, so a duplicate could pass a rule on
/// one copy and be served the other. Events already stored or from peers
/// are not held to it.
result<void> check_keys(std::string_view detail);

} // namespace troupe::wire
