// The runtime's errors: what a node cannot read or cannot run. (What the
// store, the wire and the rules fail with comes through as their own.)
#pragma once

#include "wire/error.hpp"

namespace troupe::runtime {

enum class errc {
  invalid_event,   // an event, a dead letter or a redrive that cannot be read
  config,          // a config the node cannot run as it is
  service_failed,  // a service that cannot be made or started
  io,              // the node's own files and directories: retryable
};

struct errc_codes {
  static constexpr const char* module = "runtime";
  static const char* name(int code);
  static bool retryable(int code) { return code == static_cast<int>(errc::io); }
};

} // namespace troupe::runtime

TROUPE_ERROR_CODES(troupe::runtime, errc, errc_codes);
