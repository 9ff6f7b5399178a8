#include "apps/flight/services/error.hpp"

namespace troupe::flight {

const char* errc_codes::name(int code) {
  switch (static_cast<errc>(code)) {
    case errc::io: return "io";
    case errc::bad_name: return "bad_name";
  }
  return "unknown";
}

} // namespace troupe::flight

TROUPE_ERROR_CATEGORY(troupe::flight, errc, errc_codes)
