// How far each peer's wall clock is from this node's, learnt from its
// heartbeats, so that an event's age is measured on its origin's clock.
//
// An event carries its origin's time. On hosts whose clocks disagree, the
// age a consumer would compute with its own clock is off by the skew: a
// consumer two minutes ahead would give up on an event with a 60-second
// maximum age before its first retry. Every heartbeat says when the peer
// sent it; receive time minus send time is the skew plus the one-way
// delay. The smallest of the last few samples is the estimate, so a
// delayed heartbeat never inflates it and the error is the link's smallest
// delay (well under a millisecond on a LAN).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace troupe::runtime {

class peer_clocks {
 public:
  static constexpr std::size_t window = 8;

  /// A heartbeat that `peer` sent at `sent_ms` (its clock) arrived at
  /// `received_ms` (ours). A zero `sent_ms` (a node too old to say) is ignored.
  void sample(const std::string& peer, std::int64_t sent_ms, std::int64_t received_ms);

  /// How much to add to `peer`'s time to get ours; nullopt before its first heartbeat.
  std::optional<std::int64_t> offset(const std::string& peer) const;

  /// `peer`'s time `t` on this node's clock: as is until its first heartbeat.
  std::int64_t to_local(const std::string& peer, std::int64_t t) const;

 private:
  struct samples {
    std::array<std::int64_t, window> values{};
    std::size_t count = 0, next = 0;
    std::int64_t best = 0;
  };
  std::map<std::string, samples> peers_;
};

} // namespace troupe::runtime
