// JSON to MessagePack on arbitrary bytes: the fast path (simdjson, rules/
// json_simd.cpp) against the reference reader (rules/json.cpp). Checks: the
// fast path never takes what the reference refuses, writes the same bytes
// when both take a document, takes every valid object and array itself,
// leaves nothing behind when it refuses; and json_to_msgpack answers
// exactly as the reference, error message included.
#include <string>

#include "fuzz/check.hpp"
#include "rules/json.hpp"
#include "rules/matcher.hpp"

namespace rd = troupe::rules::detail;

namespace {

bool container(std::string_view json) {
  for (char c : json) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      continue;
    return c == '{' || c == '[';
  }
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto json = troupe::fuzz::bytes_of(data, size);
  std::string why;
  const auto reference = rd::json_to_msgpack_reference(json, &why);
  std::string fast;
  const bool fast_ok = rd::json_to_msgpack_fast(json, fast);
  FUZZ_CHECK(!fast_ok || reference);
  FUZZ_CHECK(!fast_ok || *reference == fast);
  FUZZ_CHECK(fast_ok || !reference || !container(json));
  FUZZ_CHECK(fast_ok || fast.empty());
  std::string public_why;
  const auto pub = troupe::rules::json_to_msgpack(json, &public_why);
  FUZZ_CHECK(pub.has_value() == reference.has_value());
  FUZZ_CHECK(!pub || *pub == *reference);
  FUZZ_CHECK(pub || public_why == why);
  return 0;
}
