// The origin side of a node's streams: each stream's last seq given out,
// which peers must ack it (from the config's rules), what each has acked,
// what may be pruned from the outbox, what is past its maximum age, and
// the heads the heartbeat carries.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime/delivery.hpp"
#include "wire/stream.hpp"

namespace troupe::runtime {

struct outbound_stream {
  std::uint64_t head = 0;              // last seq given out
  std::uint64_t pruned = 0;            // every seq up to here is gone from the outbox
  std::vector<std::string> consumers;  // peers that must ack it
  std::int64_t max_age_ms = 24LL * 3600 * 1000;  // kept at most this long for them
  std::uint64_t expired_upto = 0;      // expired events up to here are dropped or being dropped
};

/// A range of the outbox every consumer acked: seqs up to `upto`, in
/// chunks of at most `chunk` events.
struct prune_range {
  std::string stream;
  std::uint64_t from = 0, upto = 0;  // deletes (from, upto]
};

/// Events of `stream` after `after` and older than `before_ms` are past
/// their age.
struct expiry_cutoff {
  std::string stream;
  std::uint64_t after = 0;
  std::int64_t before_ms = 0;
};

class outbound_streams {
 public:
  /// Says, for a stream, the peers that must ack it and how long it is kept.
  struct stream_policy {
    std::function<std::vector<std::string>(const std::string&)> consumers;
    std::function<std::int64_t(const std::string&)> max_age_ms;
  };

  explicit outbound_streams(stream_policy p) : policy_(std::move(p)) {}

  /// At start: `stream`'s last seq and the oldest it still keeps (0: none).
  void restore(const std::string& stream, std::uint64_t head, std::uint64_t oldest_kept);
  void restore_ack(const std::string& peer, const std::string& stream, std::uint64_t seq);

  /// The stream, made on first use.
  outbound_stream& stream(const std::string& name);
  const outbound_stream* find(const std::string& name) const;

  /// The next seq of `stream`, and handing back the last one (an event that
  /// could not be written after all).
  std::uint64_t issue(const std::string& name) { return ++stream(name).head; }
  void unissue(const std::string& name) { --stream(name).head; }

  /// An ack from `peer`. Refused (with the reason) when the stream is not
  /// one of this node's that `peer` consumes; an ack for another epoch is
  /// ignored; never more than was given out counts.
  std::optional<std::string> take_ack(const std::string& peer, const wire::stream_ack& a, std::uint64_t epoch);

  /// What `peer` acked of `stream`.
  std::uint64_t acked(const std::string& peer, const std::string& stream) const;
  /// Every peer ack, for the store (since the last call, when `dirty_only`).
  std::optional<std::map<stream_key, std::uint64_t>> acks_to_persist();

  /// The outbox ranges every consumer acked since the last call.
  std::vector<prune_range> prunable(std::uint64_t chunk);

  /// The streams with events that may be past their age at `now_ms`.
  std::vector<expiry_cutoff> expiry_cutoffs(std::int64_t now_ms) const;
  /// Marks event `seq` of `stream` as expired; false when it already was.
  bool expire(const std::string& stream, std::uint64_t seq);

  /// Each stream's head, for the heartbeat.
  std::vector<std::pair<std::string, std::uint64_t>> heads() const;

 private:
  stream_policy policy_;
  std::map<std::string, outbound_stream> out_;
  std::map<stream_key, std::uint64_t> acks_;  // (peer, stream) → acked seq
  bool acks_dirty_ = false;
};

}  // namespace troupe::runtime
