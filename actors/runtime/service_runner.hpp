// One service as the runtime runs it, as plain C++: hands it one delivery
// at a time, turns what it did into an answer, and supervises it. A
// handler that throws or overruns its timeout leaves the service's memory
// in doubt, so it stops handling until it is rebuilt from its stored state
// (after the bus committed every answer it gave before); more than
// `max_restarts` within `within` and it is failed: it handles nothing more,
// and status says so (OTP's restart intensity).
//
//   running ──(crash)──▶ restarting ──(restore)──▶ running
//                 └──(past the intensity)──▶ failed
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>

#include "actors/runtime/delivery.hpp"
#include "actors/runtime/restart_intensity.hpp"
#include "actors/service.hpp"
#include "cluster/config.hpp"

namespace troupe::runtime {

enum class service_mode { running, restarting, failed };
const char* to_string(service_mode m);

struct service_counters {
  std::uint64_t delivered = 0, ok = 0, transient = 0, permanent = 0, crashed = 0, timeouts = 0, restarts = 0;
};

/// Makes a service anew for a restart, from the one that crashed (fault
/// injection keeps its wrapper, so that its dice and clock go on).
using service_maker = std::function<std::shared_ptr<service>(std::shared_ptr<service> crashed)>;

/// Calls a service's handler with the event's detail decoded.
handled invoke(service& impl, const wire::envelope& ev, state_changes& changes);

/// Encodes the events of ok answer `a` (its `details`), each checked
/// against every limit an event meets; why one cannot be sent, if one cannot.
std::optional<std::string> encode_events(answer& a);

class service_runner {
 public:
  using clock = std::chrono::steady_clock;

  service_runner(std::string name, std::shared_ptr<service> impl, service_maker remake,
                 const cluster::supervision_spec& intensity, std::shared_ptr<spdlog::logger> log);
  service_runner(const service_runner&) = delete;
  service_runner& operator=(const service_runner&) = delete;

  /// Runs delivery `d` at `now` (wall clock `now_ms` ends the attempt).
  answer handle(const delivery& d, clock::time_point now);
  /// How long to wait before handing `ev` over (a slow handler, injected).
  std::chrono::milliseconds delay_before(const wire::envelope& ev);
  /// True once after a crash: the bus hears of it after the answers before it.
  bool take_crash_news();
  /// Rebuilds the service from its stored rows.
  void restore(const std::vector<store::state_row>& rows);

  nlohmann::json query(const std::string& what, const std::string& args) const;
  nlohmann::json stats() const;
  const std::string& name() const { return name_; }
  service_mode mode() const { return mode_; }
  const service_counters& counters() const { return counters_; }

 private:
  void crash(const std::string& why, const delivery& d, clock::time_point now);

  std::string name_;
  std::shared_ptr<service> impl_;
  service_maker remake_;
  restart_intensity intensity_;
  std::shared_ptr<spdlog::logger> log_;
  service_mode mode_ = service_mode::running;
  bool crash_untold_ = false;
  service_counters counters_;
};

}  // namespace troupe::runtime
