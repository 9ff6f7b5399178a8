// The flight application's own errors: its mail and its audit's files.
#pragma once

#include "wire/error.hpp"

namespace troupe::flight {

enum class errc {
  io,        // a file or directory operation failed: retryable
  bad_name,  // a name the maildir cannot use
};

struct errc_codes {
  static constexpr const char* module = "flight";
  static const char* name(int code);
  static bool retryable(int code) { return code == static_cast<int>(errc::io); }
};

} // namespace troupe::flight

TROUPE_ERROR_CODES(troupe::flight, errc, errc_codes);
