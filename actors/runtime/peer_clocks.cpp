#include "actors/runtime/peer_clocks.hpp"

#include <algorithm>

namespace troupe::runtime {

void peer_clocks::sample(const std::string& peer, std::int64_t sent_ms, std::int64_t received_ms) {
  if (sent_ms <= 0)
    return;
  auto& s = peers_[peer];
  s.values[s.next] = received_ms - sent_ms;
  s.next = (s.next + 1) % window;
  s.count = std::min(s.count + 1, window);
  s.best = *std::min_element(s.values.begin(), s.values.begin() + static_cast<std::ptrdiff_t>(s.count));
}

std::optional<std::int64_t> peer_clocks::offset(const std::string& peer) const {
  const auto it = peers_.find(peer);
  if (it == peers_.end())
    return std::nullopt;
  return it->second.best;
}

std::int64_t peer_clocks::to_local(const std::string& peer, std::int64_t t) const {
  return t + offset(peer).value_or(0);
}

} // namespace troupe::runtime
