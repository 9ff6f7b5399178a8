#include "wire/error.hpp"

namespace troupe {

std::string error::to_string() const { return code.message() + ": " + message; }

bool error::retryable() const {
  const auto* module = dynamic_cast<const error_category*>(&code.category());
  return module && module->retryable(code.value());
}

namespace wire {

const char* errc_codes::name(int code) {
  switch (static_cast<errc>(code)) {
    case errc::truncated: return "truncated";
    case errc::trailing_bytes: return "trailing_bytes";
    case errc::not_msgpack: return "not_msgpack";
    case errc::wrong_shape: return "wrong_shape";
    case errc::bad_version: return "bad_version";
    case errc::invalid_field: return "invalid_field";
    case errc::too_large: return "too_large";
    case errc::unauthorized: return "unauthorized";
    case errc::io: return "io";
  }
  return "unknown";
}

} // namespace wire

} // namespace troupe

TROUPE_ERROR_CATEGORY(troupe::wire, errc, errc_codes)
