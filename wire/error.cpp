#include "wire/error.hpp"

namespace troupe {

const char* to_string(errc code) {
  switch (code) {
    case errc::truncated: return "truncated";
    case errc::trailing_bytes: return "trailing_bytes";
    case errc::not_msgpack: return "not_msgpack";
    case errc::wrong_shape: return "wrong_shape";
    case errc::bad_version: return "bad_version";
    case errc::invalid_field: return "invalid_field";
    case errc::too_large: return "too_large";
    case errc::io: return "io";
    case errc::config: return "config";
  }
  return "unknown";
}

std::string error::to_string() const {
  return std::string(troupe::to_string(code)) + ": " + message;
}

} // namespace troupe
