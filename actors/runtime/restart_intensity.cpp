#include "actors/runtime/restart_intensity.hpp"

namespace troupe::runtime {

void restart_intensity::forget_old(clock::time_point now) {
  while (!restarts_.empty() && now - restarts_.front() >= within_)
    restarts_.pop_front();
}

bool restart_intensity::admit(clock::time_point now) {
  forget_old(now);
  if (static_cast<int>(restarts_.size()) >= max_)
    return false;
  restarts_.push_back(now);
  return true;
}

std::size_t restart_intensity::recent(clock::time_point now) {
  forget_old(now);
  return restarts_.size();
}

}  // namespace troupe::runtime
