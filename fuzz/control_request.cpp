// The control request decoder (wire/control.hpp) on arbitrary bytes, as a
// node's ROUTER socket takes them from any client: no crash, no exception,
// no read out of bounds. A request it accepts encodes and decodes to the
// same request, its encoding is stable, and every field is within the
// limits the decoder promises (wire/limits.hpp, wire/control.hpp).
#include <string>

#include "fuzz/check.hpp"
#include "wire/control.hpp"
#include "wire/limits.hpp"

using namespace troupe;

namespace {

bool same(const wire::put_entry& a, const wire::put_entry& b) {
  return a.source == b.source && a.detail_type == b.detail_type && a.detail == b.detail
         && a.correlation_id == b.correlation_id && a.resources == b.resources
         && a.idempotency_key == b.idempotency_key;
}

bool same(const wire::control_request& a, const wire::control_request& b) {
  if (a.verb != b.verb || a.service != b.service || a.what != b.what || a.args != b.args
      || a.entries.size() != b.entries.size() || a.services != b.services || a.after != b.after
      || a.limit != b.limit)
    return false;
  for (std::size_t i = 0; i < a.entries.size(); ++i)
    if (!same(a.entries[i], b.entries[i]))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::bytes_of(data, size);
  auto r = wire::decode_request(in);
  if (!r) {
    FUZZ_CHECK(!r.err().message.empty());
    return 0;
  }
  FUZZ_CHECK(r->verb == "put" || r->verb == "query" || r->verb == "status" || r->verb == "read");
  if (r->verb == "put")
    FUZZ_CHECK(!r->entries.empty() && r->entries.size() <= wire::max_put_entries);
  if (r->verb == "read") {
    FUZZ_CHECK(r->limit >= 1 && r->limit <= wire::max_read_rows);
    FUZZ_CHECK(r->services.size() <= wire::max_read_services);
    for (const auto& s : r->services)
      FUZZ_CHECK(!s.empty() && s.size() <= wire::max_string_bytes);
  } else {
    FUZZ_CHECK(r->services.empty() && !r->after && r->limit == 0);
  }
  for (const auto& e : r->entries) {
    FUZZ_CHECK(!e.detail.empty());
    FUZZ_CHECK(e.idempotency_key.size() <= wire::max_idempotency_key);
  }
  const auto once = wire::encode(*r);
  FUZZ_CHECK(once.size() <= in.size());
  auto again = wire::decode_request(once);
  FUZZ_CHECK(again);
  FUZZ_CHECK(same(*again, *r));
  FUZZ_CHECK(wire::encode(*again) == once);
  return 0;
}
