#include "actors/runtime/systemd_notify.hpp"

#include <systemd/sd-daemon.h>

namespace troupe::runtime {

void notify_ready(const std::string& status) {
  const auto message = "READY=1\nSTATUS=" + status;
  sd_notify(0, message.c_str());
}

void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }

void notify_watchdog() { sd_notify(0, "WATCHDOG=1"); }

std::optional<std::chrono::microseconds> watchdog_period() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
    return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

} // namespace troupe::runtime
