// OTP's restart intensity: at most `max_restarts` restarts within any
// window of `within`. Used by the launcher for node processes and by the
// service host for services, so both count the same way.
#pragma once

#include <chrono>
#include <deque>

namespace troupe::runtime {

class restart_intensity {
 public:
  using clock = std::chrono::steady_clock;

  restart_intensity(int max_restarts, std::chrono::milliseconds within)
      : max_(max_restarts), within_(within) {}

  /// Whether one more restart at `now` stays within the limit; if so it is
  /// counted. A restart `within` or longer ago no longer counts: with
  /// max 2 within 10 s, restarts at 0 s and 1 s allow one at 10 s but not
  /// at 9.999 s.
  bool admit(clock::time_point now);

  /// The restarts that still count at `now`.
  std::size_t recent(clock::time_point now);

  int max_restarts() const { return max_; }
  std::chrono::milliseconds within() const { return within_; }

 private:
  void forget_old(clock::time_point now);

  int max_;
  std::chrono::milliseconds within_;
  std::deque<clock::time_point> restarts_;
};

}  // namespace troupe::runtime
