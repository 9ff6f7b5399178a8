#include "actors/runtime/stream_gate.hpp"

#include <algorithm>

namespace troupe::runtime {

void stream_gate::restore(const stream_key& key, const store::cursor& committed) {
  auto& s = in_[key];
  s.accepted = committed;
  s.committed = committed.seq;
  s.acked = store::cursor{committed.epoch, 0};
}

std::optional<replay_ask> stream_gate::ask(const stream_key& key, inbound_stream& s, std::uint64_t epoch,
                                           std::uint64_t from, std::int64_t now_ms) {
  if (s.replay_asked_ms && now_ms - s.replay_asked_ms < opt_.replay_timeout_ms)
    return std::nullopt;
  s.replay_asked_ms = now_ms;
  return replay_ask{key, epoch, from};
}

std::shared_ptr<held_event> stream_gate::hold(const stream_key& key, inbound_stream& s, std::uint64_t epoch,
                                              std::uint64_t seq) {
  s.accepted.seq = seq;
  auto h = std::make_shared<held_event>();
  h->key = key;
  h->epoch = epoch;
  h->seq = seq;
  held_[key].push_back(h);
  ++held_count_;
  return h;
}

stream_gate::verdict stream_gate::accept(const stream_key& key, std::uint64_t epoch, std::uint64_t seq,
                                         std::int64_t now_ms) {
  auto& s = in_[key];
  if (epoch < s.accepted.epoch)
    return {admission::stale, nullptr, std::nullopt};
  s.enter(epoch);  // a new incarnation, or the first we hear of
  const auto expected = s.accepted.seq + 1;
  if (seq < expected)
    return {admission::duplicate, nullptr, std::nullopt};
  if (seq > expected)
    return {admission::gap, nullptr, ask(key, s, epoch, expected, now_ms)};
  if (held_count_ >= opt_.max_held)
    return {admission::deferred, nullptr, std::nullopt};  // replayed once the services catch up
  return {admission::taken, hold(key, s, epoch, seq), std::nullopt};
}

std::shared_ptr<held_event> stream_gate::accept_in_place(const stream_key& key, std::uint64_t epoch,
                                                         std::uint64_t seq) {
  auto& s = in_[key];
  if (epoch != s.accepted.epoch || seq != s.accepted.seq + 1 || held_count_ >= opt_.max_held)
    return nullptr;
  return hold(key, s, epoch, seq);
}

stream_key stream_gate::answered(answer&& a) {
  auto h = std::move(a.d.hold);  // the answer must not own its holder: no cycle
  --h->remaining;
  h->answers.push_back(std::move(a));
  return h->key;
}

std::optional<store::cursor> stream_gate::release(const stream_key& key,
                                                  const std::function<void(held_event&)>& each) {
  auto it = held_.find(key);
  if (it == held_.end())
    return std::nullopt;
  std::optional<store::cursor> last;
  auto& q = it->second;
  while (!q.empty() && q.front()->remaining == 0) {
    auto h = std::move(q.front());
    q.pop_front();
    --held_count_;
    each(*h);
    last = store::cursor{h->epoch, h->seq};
  }
  if (q.empty())
    held_.erase(it);
  return last;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> stream_gate::replay_starts(const stream_key& key,
                                                                                   std::uint64_t epoch,
                                                                                   std::uint64_t first_kept) {
  auto& s = in_[key];
  s.replay_asked_ms = 0;
  s.enter(epoch);
  if (epoch == s.accepted.epoch && first_kept > s.accepted.seq + 1 && first_kept > 1) {
    // What lies between was acked by every consumer, this node included,
    // before its store was lost; it cannot be had again.
    std::pair<std::uint64_t, std::uint64_t> skipped{s.accepted.seq + 1, first_kept - 1};
    s.accepted.seq = first_kept - 1;
    return skipped;
  }
  return std::nullopt;
}

std::optional<replay_ask> stream_gate::replay_continues(const stream_key& key, const store::cursor& before,
                                                        std::uint64_t epoch, std::uint64_t head,
                                                        std::int64_t now_ms) {
  auto& s = in_[key];
  const bool moved = s.accepted.seq != before.seq || s.accepted.epoch != before.epoch;
  if (s.accepted.epoch == epoch && s.accepted.seq < head && moved)
    return ask(key, s, epoch, s.accepted.seq + 1, now_ms);
  return std::nullopt;
}

std::optional<replay_ask> stream_gate::heartbeat(const stream_key& key, std::uint64_t epoch, std::uint64_t head,
                                                 std::int64_t now_ms) {
  auto& s = in_[key];
  const bool behind = epoch != s.accepted.epoch ? epoch > s.accepted.epoch : head > s.accepted.seq;
  std::optional<replay_ask> out;
  if (behind && (s.seq_at_last_beat == UINT64_MAX || s.seq_at_last_beat == s.accepted.seq))
    out = ask(key, s, epoch, epoch == s.accepted.epoch ? s.accepted.seq + 1 : 1, now_ms);
  s.seq_at_last_beat = s.accepted.seq;
  return out;
}

void stream_gate::committed(const stream_key& key, std::uint64_t epoch, std::uint64_t seq) {
  auto& s = in_[key];
  if (epoch == s.accepted.epoch)
    s.committed = std::max(s.committed, seq);
}

std::map<std::string, std::vector<wire::stream_ack>> stream_gate::acks_due(bool again) {
  std::map<std::string, std::vector<wire::stream_ack>> out;
  for (auto& [key, s] : in_)
    if (again || s.committed > s.acked.seq || s.accepted.epoch != s.acked.epoch) {
      if (s.committed == 0)
        continue;
      out[key.first].push_back({key.second, s.accepted.epoch, s.committed});
      s.acked = store::cursor{s.accepted.epoch, s.committed};
    }
  return out;
}

std::uint64_t stream_gate::unacked() const {
  std::uint64_t lag = 0;
  for (const auto& [key, s] : in_)
    lag += s.accepted.seq - std::min(s.accepted.seq, s.acked.seq);
  return lag;
}

bool stream_gate::holds_success_of(const std::string& service) const {
  for (const auto& [key, q] : held_)
    for (const auto& h : q)
      for (const auto& a : h->answers)
        if (a.status == outcome::ok && a.d.target == service)
          return true;
  return false;
}

}  // namespace troupe::runtime
