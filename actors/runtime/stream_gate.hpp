// The subscriber's gate, per inbound stream (origin, detail-type): takes
// each stream's next event and nothing else, drops what it has already,
// asks the origin to replay what it missed, holds what it took until every
// local target answered, and releases the held events in seq order, so
// that a stream's effects commit in order with its cursor. It also keeps
// what each stream has committed and acked, for the acks it owes.
//
//   accept(seq) ─▶ held (remaining targets) ─answered─▶ done ─release─▶ cursor
//                     in seq order per stream; an event finished early
//                     waits for the ones before it
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime/delivery.hpp"
#include "store/node_store.hpp"
#include "wire/stream.hpp"

namespace troupe::runtime {

/// Subscriber side, per (origin, stream).
struct inbound_stream {
  store::cursor accepted;             // last seq taken (may not be committed yet)
  store::cursor acked;                // last seq committed and acked
  std::uint64_t committed = 0;        // last seq committed, in `accepted.epoch`
  std::int64_t replay_asked_ms = 0;   // a replay request in flight since
  std::uint64_t seq_at_last_beat = UINT64_MAX;

  /// Its origin's incarnation `epoch`, if newer: the stream starts at 1.
  void enter(std::uint64_t epoch) {
    if (epoch > accepted.epoch) {
      accepted = store::cursor{epoch, 0};
      committed = 0;
    }
  }
};

/// A replay to ask of `key.first`: stream `key.second` from seq `from`.
struct replay_ask {
  stream_key key;
  std::uint64_t epoch = 0, from = 0;
};

enum class admission {
  taken,      // the stream's next event: held
  duplicate,  // already taken
  stale,      // from an earlier incarnation of its origin
  gap,        // events before it are missing: a replay is asked
  deferred,   // the gate is full: left to replay
};

class stream_gate {
 public:
  struct options {
    std::size_t max_held = 50000;          // held events beyond which the gate takes no more
    std::int64_t replay_timeout_ms = 2000;  // a replay asked is asked again after this long
  };

  stream_gate() : stream_gate(options{}) {}
  explicit stream_gate(options o) : opt_(o) {}

  /// At start: what the store committed for `key`; acked anew, since the
  /// origin may not have it.
  void restore(const stream_key& key, const store::cursor& committed);

  struct verdict {
    admission what = admission::taken;
    std::shared_ptr<held_event> hold;  // when taken: held, with no target yet
    std::optional<replay_ask> ask;     // when a gap, unless one is in flight
  };
  /// Event `seq` of `key` in incarnation `epoch`. A new epoch starts its
  /// stream at 1. The caller adds one `remaining` to the hold per target.
  verdict accept(const stream_key& key, std::uint64_t epoch, std::uint64_t seq, std::int64_t now_ms);

  /// An event that cannot be decoded: held (with nothing to answer) when it
  /// is its stream's next and the gate has room; null otherwise.
  std::shared_ptr<held_event> accept_in_place(const stream_key& key, std::uint64_t epoch, std::uint64_t seq);

  /// A target's answer for a held event. Returns the event's stream.
  stream_key answered(answer&& a);

  /// Pops the events at the front of `key`'s queue that every target
  /// answered, oldest first, handing each to `each`; returns the cursor of
  /// the last one popped, if any.
  std::optional<store::cursor> release(const stream_key& key, const std::function<void(held_event&)>& each);

  /// The start of a replay batch from the origin, which is at `epoch` and
  /// keeps events from `first_kept`. Returns the seqs that are no longer
  /// kept there and are skipped ([first, last]), if any.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> replay_starts(const stream_key& key, std::uint64_t epoch,
                                                                        std::uint64_t first_kept);
  /// After a replay batch that moved the stream from `before`: the rest up
  /// to `head`. A batch that moved nothing asks nothing (the heartbeat will).
  std::optional<replay_ask> replay_continues(const stream_key& key, const store::cursor& before, std::uint64_t epoch,
                                             std::uint64_t head, std::int64_t now_ms);

  /// The origin's heartbeat says `key` is at `head` in `epoch`. Lagging a
  /// busy stream is normal; not moving between two beats while behind
  /// means something was lost: replay is asked.
  std::optional<replay_ask> heartbeat(const stream_key& key, std::uint64_t epoch, std::uint64_t head,
                                      std::int64_t now_ms);

  /// The stream's cursor `epoch`/`seq` is durable.
  void committed(const stream_key& key, std::uint64_t epoch, std::uint64_t seq);

  /// The acks owed, per origin: what committed since the last time, or
  /// with `again` every stream's position anew (an origin persists acks
  /// lazily and may have lost some).
  std::map<std::string, std::vector<wire::stream_ack>> acks_due(bool again);

  /// Where `key` stands (made on first use).
  inbound_stream& stream(const stream_key& key) { return in_[key]; }
  std::size_t held() const { return held_count_; }
  /// Events taken and not yet acked, over every stream.
  std::uint64_t unacked() const;
  /// Whether a successful answer of `service` waits in a held event.
  bool holds_success_of(const std::string& service) const;

 private:
  std::optional<replay_ask> ask(const stream_key& key, inbound_stream& s, std::uint64_t epoch, std::uint64_t from,
                                std::int64_t now_ms);
  std::shared_ptr<held_event> hold(const stream_key& key, inbound_stream& s, std::uint64_t epoch,
                                   std::uint64_t seq);

  options opt_;
  std::map<stream_key, inbound_stream> in_;
  std::map<stream_key, std::deque<std::shared_ptr<held_event>>> held_;  // per stream, in seq order
  std::size_t held_count_ = 0;
};

}  // namespace troupe::runtime
