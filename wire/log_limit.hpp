// Rate-limited logging for what a peer can make happen at will.
//
// A hostile or broken peer can send a bad frame, ack or request thousands
// of times a second; each is counted, but a line for each would flood the
// log and cost more than the frame. A log_limit lets one line per key
// through per interval and says how many it held back since, and keeps at
// most `max_keys` keys, so that made-up keys cannot grow it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <iterator>
#include <unordered_map>
#include <utility>

namespace troupe::wire {

class log_limit {
 public:
  using clock = std::chrono::steady_clock;

  explicit log_limit(std::chrono::milliseconds interval = std::chrono::seconds(10), std::size_t max_keys = 256)
      : interval_(interval), max_keys_(max_keys) {}

  /// Whether a line about `key` may be logged at `now`: nullopt when it is
  /// held back, else how many were held back since the last one let through.
  /// Not thread-safe: one owner.
  std::optional<std::uint64_t> admit(const std::string& key, clock::time_point now = clock::now()) {
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      if (keys_.size() >= max_keys_) {
        // Full: forget the keys that are quiet now, or else fold this one
        // into the shared overflow key.
        for (auto k = keys_.begin(); k != keys_.end();)
          k = now - k->second.last >= interval_ ? keys_.erase(k) : std::next(k);
        if (keys_.size() >= max_keys_)
          return admit_entry(keys_[overflow_key], now);
      }
      keys_.emplace(key, entry{now, 0});
      return std::uint64_t{0};
    }
    return admit_entry(it->second, now);
  }

 private:
  struct entry {
    clock::time_point last;
    std::uint64_t held = 0;
  };
  static inline const std::string overflow_key = std::string("\0overflow", 9);

  std::optional<std::uint64_t> admit_entry(entry& e, clock::time_point now) {
    if (e.last != clock::time_point{} && now - e.last < interval_) {
      ++e.held;
      return std::nullopt;
    }
    e.last = now;
    return std::exchange(e.held, 0);
  }

  std::chrono::milliseconds interval_;
  std::size_t max_keys_;
  std::unordered_map<std::string, entry> keys_;
};

} // namespace troupe::wire
