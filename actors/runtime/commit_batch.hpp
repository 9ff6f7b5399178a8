// One transaction of the bus: the events it originates, the deliveries
// done (inbox rows, the services' state changes), the cursors of the
// streams released, and the failed deliveries parked for a retry; and what
// the bus does once it committed (publish, deliver locally, ack, reply,
// schedule the retries). Committed on the node's wire thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actors/runtime/delivery.hpp"
#include "store/node_store.hpp"

namespace troupe::runtime {

struct finished_delivery {
  std::int64_t inbox_id = 0;  // 0: a held delivery, not in the inbox
  std::string service;
  std::vector<state_changes::change> changes;
};

struct commit_batch {
  std::vector<std::shared_ptr<wire::envelope>> events;  // to originate
  std::vector<finished_delivery> done;
  std::map<stream_key, store::cursor> cursors;
  std::vector<delivery> parked;       // held deliveries to retry: into the inbox
  std::vector<delivery> rescheduled;  // inbox deliveries to retry: their row updated
  std::vector<store::trace_row> traces;  // attempts, for the trace journal
  bool empty() const {
    return events.empty() && done.empty() && cursors.empty() && parked.empty() && rescheduled.empty()
           && traces.empty();
  }
};

/// The batch's effects besides its events, in the open transaction.
/// Parked deliveries get their inbox row and id.
result<void> write_effects(store::txn& t, const std::vector<finished_delivery>& done, std::vector<delivery>& parked,
                           const std::vector<delivery>& rescheduled,
                           const std::map<stream_key, store::cursor>& cursors);

/// An event given its place in one of this node's streams, encoded.
struct staged_event {
  std::string stream;
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string bytes;
  bool keep = false;  // some peer must ack it: into the outbox
  std::vector<std::pair<std::string, std::string>> targets;  // local (service, rule)
  event_ptr ev;
  std::vector<std::int64_t> inbox_ids;  // per target, once written
};

/// Writes staged events: the outbox, an inbox row per local target, each
/// stream's head, and when `journal` a trace record per event.
result<void> write_staged(store::txn& t, std::vector<staged_event>& events, bool journal);

/// An inbound stream's position now durable, so it may be acked.
struct accepted_mark {
  stream_key key;
  store::cursor at;
};

/// What the bus does once a transaction committed.
struct after_commit {
  std::vector<std::pair<std::string, std::string>> frames;  // publish: topic, envelope
  std::vector<delivery> deliveries;                         // local targets
  std::string reply_to;                                     // control identity, for PutEvents
  std::string reply;
  std::vector<accepted_mark> accepted;
  // Deliveries that failed transiently, their retry now recorded in the
  // inbox: retried when due.
  std::vector<delivery> retries;
  std::vector<std::string> idempotency_keys;  // now durable
};

/// A new event with a fresh id and the time now (or `time_ms` when given).
/// One without a correlation id starts a saga: it is its own.
std::shared_ptr<wire::envelope> make_event(std::string source, std::string detail_type, std::string detail,
                                           std::string correlation_id, std::string causation_id,
                                           std::vector<std::string> resources = {}, std::int64_t time_ms = 0);

}  // namespace troupe::runtime
