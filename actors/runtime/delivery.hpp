// The values the runtime passes along an event's path: a delivery of one
// event to one local target, a service's answer to it, and an event held
// at its stream's gate until its answers commit. Plain data, no CAF.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/service.hpp"
#include "store/node_store.hpp"
#include "wire/envelope.hpp"

namespace troupe::runtime {

using event_ptr = std::shared_ptr<const wire::envelope>;
using stream_key = std::pair<std::string, std::string>;  // (origin, stream)

struct held_event;

/// One event for one local target. Either it sits in the inbox
/// (`inbox_id`), or it came from a peer's stream and is held in memory
/// (`hold`) until its effects commit together with the stream's cursor.
struct delivery {
  std::int64_t inbox_id = 0;
  std::string target;
  std::string rule;
  event_ptr ev;
  std::shared_ptr<held_event> hold;
  store::retry_state retry;  // attempt, when due, first tried, where its age starts
  // Set when handed to the service: it must start by `deadline` and run
  // for at most `timeout` (the rule's handler timeout). Monotonic time.
  std::chrono::steady_clock::time_point deadline{};
  std::chrono::milliseconds timeout{0};
};

/// Where the age of delivery `d` starts: its redrive, else its event's time.
inline std::int64_t age_start_ms(const delivery& d) {
  return d.retry.age_from_ms ? d.retry.age_from_ms : d.ev->time_ms;
}

/// What a service did with one delivery: its outcome, and when ok the
/// state changes and events to commit.
struct answer {
  delivery d;
  outcome status = outcome::ok;
  std::string error_code;  // when not ok: TIMEOUT, HANDLER_ERROR, PERMANENT_ERROR, CRASH, ...
  std::string error;
  std::int64_t at_ms = 0;  // when the attempt ended
  std::int64_t handler_us = -1;  // how long its handler ran; -1: it did not run
  std::vector<event_out> events;
  std::vector<std::string> details;  // each event's detail as MessagePack, when the service runner made them
  std::vector<state_changes::change> changes;
  bool not_run = false;  // the service was down: retried without spending an attempt
  std::string dead_letter_queue;  // where its dead letter goes; empty: its rule's DLQ
};

inline constexpr const char* invalid_event_code = "INVALID_EVENT";  // a handler emitted an event over a limit

/// An event accepted from a peer's stream whose handling has not committed
/// yet. Nothing of it is on disk: the stream's durable cursor stays below
/// it, so a crash before the commit has the origin replay it (it keeps
/// every event until acked, and acks follow the cursor). Its services'
/// answers wait here until every event before it in its stream is done,
/// then commit with the cursor in one transaction.
struct held_event {
  stream_key key;
  std::uint64_t epoch = 0, seq = 0;
  std::size_t remaining = 0;  // targets that have not answered
  std::vector<answer> answers;
};

}  // namespace troupe::runtime
