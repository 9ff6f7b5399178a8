#include "wire/envelope.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <tuple>

#include "wire/msgpack_io.hpp"

namespace troupe::wire {

namespace {

// Field order on the wire. `detail` is last so that a reader can find its
// bytes as one contiguous slice without re-encoding it.
constexpr std::uint32_t field_count = 12;

auto tie(const envelope& e) {
  return std::tie(e.id, e.source, e.detail_type, e.time_ms, e.resources, e.origin, e.epoch,
                  e.seq, e.correlation_id, e.causation_id, e.detail);
}

error field_error(std::error_code code, const char* field, const std::string& what) {
  return error{code, std::string("envelope field '") + field + "': " + what};
}

/// A read's error, with the field named as the envelope names it.
error in_field(const error& e, const char* field) {
  const auto colon = e.message.find(": ");
  return field_error(e.code, field, colon == std::string::npos ? e.message : e.message.substr(colon + 2));
}

} // namespace

bool operator==(const envelope& a, const envelope& b) { return tie(a) == tie(b); }

result<void> encode(const envelope& e, std::string& out, detail_check detail) {
  // Nothing leaves here that a receiver would refuse: the detail is one map
  // within the detail limits, every string within its own.
  if (detail == detail_check::walk)
    if (auto r = check_detail(e.detail); !r)
      return r;
  for (const auto* s : {&e.id, &e.source, &e.detail_type, &e.origin, &e.correlation_id, &e.causation_id})
    if (s->size() > max_string_bytes)
      return error{errc::too_large, "envelope: a field of " + std::to_string(s->size()) + " bytes"};
  if (e.resources.size() > max_resources)
    return error{errc::too_large, "envelope: " + std::to_string(e.resources.size()) + " resources"};
  for (const auto& r : e.resources)
    if (r.size() > max_string_bytes)
      return error{errc::too_large, "envelope: a resource of " + std::to_string(r.size()) + " bytes"};
  const auto start = out.size();
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pk.pack_array(field_count);
  pk.pack_uint32(envelope_version);
  pk.pack(e.id);
  pk.pack(e.source);
  pk.pack(e.detail_type);
  pk.pack_int64(e.time_ms);
  pk.pack(e.resources);
  pk.pack(e.origin);
  pk.pack_uint64(e.epoch);
  pk.pack_uint64(e.seq);
  pk.pack(e.correlation_id);
  pk.pack(e.causation_id);
  out.append(e.detail);
  if (out.size() - start > max_envelope_bytes) {
    const auto size = out.size() - start;
    out.resize(start);
    return error{errc::too_large, "envelope of " + std::to_string(size) + " bytes"};
  }
  return {};
}

result<envelope> decode(std::string_view bytes) {
  if (bytes.size() > max_envelope_bytes)
    return error{errc::too_large, "envelope of " + std::to_string(bytes.size()) + " bytes"};
  // Read in place, field by field, without building MessagePack objects:
  // every subscriber decodes every event it receives.
  reader in(bytes);
  auto n = in.array("envelope", std::numeric_limits<std::uint32_t>::max());
  if (!n)
    return n.err().code == errc::truncated && bytes.empty() ? error{errc::truncated, "envelope: empty"} : n.err();
  if (*n == 0)
    return error{errc::wrong_shape, "envelope: empty array"};
  auto version = in.uint("version");
  if (!version)
    return in_field(version.err(), "version");
  if (*version != envelope_version)
    return error{errc::bad_version, "envelope version " + std::to_string(*version)
                                        + " (this build reads " + std::to_string(envelope_version) + ")"};
  if (*n != field_count)
    return error{errc::wrong_shape, "envelope: " + std::to_string(*n) + " fields, expected "
                                        + std::to_string(field_count)};
  envelope e;
  auto str = [&](std::string& into, const char* field, bool required) -> result<void> {
    auto s = in.str(field, max_string_bytes);
    if (!s)
      return in_field(s.err(), field);
    if (required && s->empty())
      return field_error(errc::invalid_field, field, "empty");
    into.assign(s->data(), s->size());
    return {};
  };
  auto uint = [&](std::uint64_t& into, const char* field) -> result<void> {
    auto v = in.uint(field);
    if (!v)
      return in_field(v.err(), field);
    into = *v;
    return {};
  };
  TROUPE_TRY(str(e.id, "id", true));
  TROUPE_TRY(str(e.source, "source", true));
  TROUPE_TRY(str(e.detail_type, "detail-type", true));
  {
    auto t = in.integer("time");
    if (!t)
      return in_field(t.err(), "time");
    e.time_ms = *t;
  }
  {
    auto count = in.array("resources", max_resources);
    if (!count)
      return in_field(count.err(), "resources");
    e.resources.reserve(*count);
    for (std::uint32_t i = 0; i < *count; ++i) {
      auto r = in.str("resources", max_string_bytes);
      if (!r)
        return r.err().code == errc::wrong_shape
                   ? field_error(errc::wrong_shape, "resources", "element " + std::to_string(i) + " not a string")
                   : in_field(r.err(), "resources");
      e.resources.emplace_back(*r);
    }
  }
  TROUPE_TRY(str(e.origin, "origin", true));
  TROUPE_TRY(uint(e.epoch, "epoch"));
  TROUPE_TRY(uint(e.seq, "seq"));
  TROUPE_TRY(str(e.correlation_id, "correlation-id", false));
  TROUPE_TRY(str(e.causation_id, "causation-id", false));
  auto detail = in.value(detail_limits, "detail");
  if (!detail)
    return in_field(detail.err(), "detail");
  const auto tag = static_cast<std::uint8_t>(detail->front());
  if (!((tag & 0xf0) == 0x80 || tag == 0xde || tag == 0xdf))
    return field_error(errc::wrong_shape, "detail", "not a map");
  if (!in.at_end())
    return error{errc::trailing_bytes,
                 "envelope: " + std::to_string(bytes.size() - in.offset()) + " bytes after the last field"};
  e.detail.assign(detail->data(), detail->size());
  return e;
}

std::string make_uuid() {
  // UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a counter that
  // starts at a random value each millisecond (monotonic within a thread),
  // then 62 random bits. Ids made later sort later, so the B-trees keyed by
  // them (inboxes, services' state) grow at their right edge instead of
  // dirtying a random page per insert.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  thread_local std::uint64_t last_ms = 0;
  thread_local std::uint64_t counter = 0;
  auto ms = static_cast<std::uint64_t>(now_ms());
  if (ms > last_ms) {
    last_ms = ms;
    counter = rng() & 0x7ff;  // leaves room to count up within the millisecond
  } else if (++counter > 0xfff) {
    ++last_ms;  // the counter ran out: borrow the next millisecond
    counter = rng() & 0x7ff;
  }
  ms = last_ms;
  const std::uint64_t hi = (ms << 16) | 0x7000ULL | counter;
  const std::uint64_t lo = (rng() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  // 8-4-4-4-12 hex digits, written directly (snprintf was a tenth of
  // making an event, perf on the single hop).
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(36, '-');
  int at = 0;
  const auto put = [&](std::uint64_t v, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i)
      out[static_cast<std::size_t>(at++)] = digits[v >> (4 * i) & 0xf];
  };
  put(hi >> 32, 8);
  ++at;
  put(hi >> 16, 4);
  ++at;
  put(hi, 4);
  ++at;
  put(lo >> 48, 4);
  ++at;
  put(lo, 12);
  return out;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_time(std::int64_t time_ms) {
  const std::time_t secs = static_cast<std::time_t>(time_ms / 1000 - (time_ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace troupe::wire
