// What the fuzz targets share: the input as bytes, and a check that holds
// in every build type.
//
// A target finds logic bugs, not only memory errors, by checking what must
// hold of any input the code under test accepts (a round trip, agreement
// between two paths). A failed check prints what broke and aborts, which
// libFuzzer reports as a crash, saving the input that caused it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond) ((cond) ? void(0) : ::troupe::fuzz::fail(#cond, __FILE__, __LINE__))

namespace troupe::fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  std::abort();
}

inline std::string_view bytes_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

} // namespace troupe::fuzz
