#include "actors/runtime/error.hpp"

namespace troupe::runtime {

const char* errc_codes::name(int code) {
  switch (static_cast<errc>(code)) {
    case errc::invalid_event: return "invalid_event";
    case errc::config: return "config";
    case errc::service_failed: return "service_failed";
    case errc::io: return "io";
  }
  return "unknown";
}

} // namespace troupe::runtime

TROUPE_ERROR_CATEGORY(troupe::runtime, errc, errc_codes)
