// systemd's readiness protocol (sd_notify(3)), for a node run as a
// `Type=notify` service: READY=1 once its sockets are bound and its store
// is open, STOPPING=1 when it begins to stop, and WATCHDOG=1 while its
// event loop still turns, when the unit sets WatchdogSec=. Outside systemd
// (no $NOTIFY_SOCKET) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace troupe::runtime {

/// READY=1, with a STATUS= line that `systemctl status` shows.
void notify_ready(const std::string& status);
/// STOPPING=1.
void notify_stopping();
/// WATCHDOG=1.
void notify_watchdog();
/// How often to send WATCHDOG=1 (half the unit's WatchdogSec=), or nullopt
/// when the watchdog is off or not meant for this process.
std::optional<std::chrono::microseconds> watchdog_period();

} // namespace troupe::runtime
