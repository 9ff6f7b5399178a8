#include "actors/runtime/outbound_streams.hpp"

#include <algorithm>

namespace troupe::runtime {

outbound_stream& outbound_streams::stream(const std::string& name) {
  auto it = out_.find(name);
  if (it == out_.end()) {
    it = out_.emplace(name, outbound_stream{}).first;
    it->second.consumers = policy_.consumers(name);
    it->second.max_age_ms = policy_.max_age_ms(name);
  }
  return it->second;
}

const outbound_stream* outbound_streams::find(const std::string& name) const {
  auto it = out_.find(name);
  return it == out_.end() ? nullptr : &it->second;
}

void outbound_streams::restore(const std::string& stream_name, std::uint64_t head, std::uint64_t oldest_kept) {
  auto& os = stream(stream_name);
  os.head = head;
  os.pruned = oldest_kept == 0 ? head : oldest_kept - 1;
}

void outbound_streams::restore_ack(const std::string& peer, const std::string& stream, std::uint64_t seq) {
  acks_[{peer, stream}] = seq;
}

std::optional<std::string> outbound_streams::take_ack(const std::string& peer, const wire::stream_ack& a,
                                                      std::uint64_t epoch) {
  if (a.epoch != epoch)
    return std::nullopt;  // an ack for an earlier incarnation of this node
  // Only a stream this node has, from a consumer the config gives it:
  // anything else would be stored and kept for ever.
  auto it = out_.find(a.stream);
  if (it == out_.end()
      || std::find(it->second.consumers.begin(), it->second.consumers.end(), peer) == it->second.consumers.end())
    return "from " + peer + " for stream '" + a.stream.substr(0, 64) + (a.stream.size() > 64 ? "...'" : "'")
           + ", which is not one of this node's that " + peer + " consumes";
  auto& v = acks_[{peer, a.stream}];
  // Never more than was given out: a peer cannot ack the future.
  const auto capped = std::min(a.seq, it->second.head);
  if (capped > v) {
    v = capped;
    acks_dirty_ = true;
  }
  return std::nullopt;
}

std::uint64_t outbound_streams::acked(const std::string& peer, const std::string& stream) const {
  auto it = acks_.find({peer, stream});
  return it == acks_.end() ? 0 : it->second;
}

std::optional<std::map<stream_key, std::uint64_t>> outbound_streams::acks_to_persist() {
  if (!acks_dirty_)
    return std::nullopt;
  acks_dirty_ = false;
  return acks_;
}

std::vector<prune_range> outbound_streams::prunable(std::uint64_t chunk) {
  std::vector<prune_range> out;
  for (auto& [name, os] : out_) {
    if (os.consumers.empty())
      continue;
    std::uint64_t upto = os.head;
    for (const auto& peer : os.consumers)
      upto = std::min(upto, acked(peer, name));
    for (auto from = os.pruned; from < upto; from += chunk)
      out.push_back({name, from, std::min(upto, from + chunk)});
    os.pruned = std::max(os.pruned, upto);
  }
  return out;
}

std::vector<expiry_cutoff> outbound_streams::expiry_cutoffs(std::int64_t now_ms) const {
  std::vector<expiry_cutoff> out;
  for (const auto& [name, os] : out_)
    if (os.head > std::max(os.pruned, os.expired_upto))
      out.push_back({name, os.expired_upto, now_ms - os.max_age_ms});
  return out;
}

bool outbound_streams::expire(const std::string& stream_name, std::uint64_t seq) {
  auto& os = stream(stream_name);
  if (seq <= os.expired_upto)
    return false;  // already being dropped
  os.expired_upto = seq;
  return true;
}

std::vector<std::pair<std::string, std::uint64_t>> outbound_streams::heads() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& [name, os] : out_)
    out.emplace_back(name, os.head);
  return out;
}

}  // namespace troupe::runtime
