// The envelope: one troupe event as it travels between nodes.
//
// It carries EventBridge's fields (id, source, detail-type, time, resources,
// detail) so that EventBridge patterns apply unchanged, plus the wire fields
// the delivery protocol needs: origin node, its epoch (incarnation), the
// per-stream sequence number, and the saga's correlation and causation ids.
// On the wire it is a MessagePack array with a leading format version; the
// detail stays opaque MessagePack map bytes, decoded only by whoever needs it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/error.hpp"
#include "wire/limits.hpp"

namespace troupe::wire {

inline constexpr std::uint32_t envelope_version = 1;

struct envelope {
  std::string id;
  std::string source;
  std::string detail_type;
  std::int64_t time_ms = 0;  // milliseconds since the Unix epoch (UTC)
  std::vector<std::string> resources;
  std::string origin;        // node that published it
  std::uint64_t epoch = 0;   // origin's incarnation
  std::uint64_t seq = 0;     // position in the stream (origin, detail_type)
  std::string correlation_id;
  std::string causation_id;
  std::string detail;        // MessagePack bytes of a map
};

bool operator==(const envelope& a, const envelope& b);
inline bool operator!=(const envelope& a, const envelope& b) { return !(a == b); }

/// Appends the encoding of `e` to `out`. Fails with `invalid_field` when
/// `detail` is not the bytes of one MessagePack map within detail_limits,
/// and with `too_large` when a field is over its limit or the envelope
/// over max_envelope_bytes (then `out` is as it was).
///
/// `detail_checked` says the caller has held the detail to those limits
/// already (check_entry, where every event is made), so that it is not
/// walked a second time on the hot path; everything else is still checked.
enum class detail_check { walk, done };
result<void> encode(const envelope& e, std::string& out, detail_check detail = detail_check::walk);

/// Decodes one envelope from untrusted bytes. Fails with a typed error
/// naming what is wrong; never throws.
result<envelope> decode(std::string_view bytes);

/// A fresh time-ordered (version 7) UUID in its canonical textual form:
/// unique, and later ids sort after earlier ones.
std::string make_uuid();

/// Milliseconds since the Unix epoch, from the system clock.
std::int64_t now_ms();

/// ISO-8601 in UTC with a `Z`, second precision, as EventBridge writes `time`.
std::string format_time(std::int64_t time_ms);

} // namespace troupe::wire
