#include "wire/envelope.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
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

error field_error(errc code, const char* field, const std::string& what) {
  return error{code, std::string("envelope field '") + field + "': " + what};
}

result<std::string> read_string(std::string_view bytes, std::size_t& off, const char* field,
                                bool required, msgpack::zone& zone) {
  auto oh = read_one(bytes, off, {1, max_string_bytes, 1}, field, zone);
  if (!oh)
    return oh.err();
  const auto& o = *oh;
  if (o.type != msgpack::type::STR)
    return field_error(errc::wrong_shape, field, "not a string");
  if (required && o.via.str.size == 0)
    return field_error(errc::invalid_field, field, "empty");
  return std::string(o.via.str.ptr, o.via.str.size);
}

result<std::uint64_t> read_uint(std::string_view bytes, std::size_t& off, const char* field,
                               msgpack::zone& zone) {
  auto oh = read_one(bytes, off, {1, 1, 1}, field, zone);
  if (!oh)
    return oh.err();
  const auto& o = *oh;
  if (o.type != msgpack::type::POSITIVE_INTEGER)
    return field_error(errc::wrong_shape, field, "not a non-negative integer");
  return o.via.u64;
}

} // namespace

bool operator==(const envelope& a, const envelope& b) { return tie(a) == tie(b); }

result<void> encode(const envelope& e, std::string& out) {
  // Nothing leaves here that a receiver would refuse: the detail is one map
  // within the detail limits, every string within its own.
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
  std::size_t off = 0;
  msgpack::zone zone;  // one for every field
  auto n = read_array_header(bytes, off, "envelope");
  if (!n)
    return n.err();
  if (*n == 0)
    return error{errc::wrong_shape, "envelope: empty array"};
  auto version = read_uint(bytes, off, "version", zone);
  if (!version)
    return version.err();
  if (*version != envelope_version)
    return error{errc::bad_version, "envelope version " + std::to_string(*version)
                                        + " (this build reads " + std::to_string(envelope_version) + ")"};
  if (*n != field_count)
    return error{errc::wrong_shape, "envelope: " + std::to_string(*n) + " fields, expected "
                                        + std::to_string(field_count)};
  envelope e;
  auto str = [&](std::string& into, const char* field, bool required) -> result<void> {
    auto s = read_string(bytes, off, field, required, zone);
    if (!s)
      return s.err();
    into = std::move(*s);
    return {};
  };
  TROUPE_TRY(str(e.id, "id", true));
  TROUPE_TRY(str(e.source, "source", true));
  TROUPE_TRY(str(e.detail_type, "detail-type", true));
  {
    auto oh = read_one(bytes, off, {1, 1, 1}, "time", zone);
    TROUPE_TRY(oh);
    const auto& o = *oh;
    if (o.type == msgpack::type::POSITIVE_INTEGER && o.via.u64 <= INT64_MAX)
      e.time_ms = static_cast<std::int64_t>(o.via.u64);
    else if (o.type == msgpack::type::NEGATIVE_INTEGER)
      e.time_ms = o.via.i64;
    else
      return field_error(errc::wrong_shape, "time", "not an integer");
  }
  {
    auto oh = read_one(bytes, off, {max_resources, max_string_bytes, 2}, "resources", zone);
    TROUPE_TRY(oh);
    const auto& o = *oh;
    if (o.type != msgpack::type::ARRAY)
      return field_error(errc::wrong_shape, "resources", "not an array");
    for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
      const auto& r = o.via.array.ptr[i];
      if (r.type != msgpack::type::STR)
        return field_error(errc::wrong_shape, "resources", "element " + std::to_string(i) + " not a string");
      e.resources.emplace_back(r.via.str.ptr, r.via.str.size);
    }
  }
  TROUPE_TRY(str(e.origin, "origin", true));
  {
    auto v = read_uint(bytes, off, "epoch", zone);
    TROUPE_TRY(v);
    e.epoch = *v;
  }
  {
    auto v = read_uint(bytes, off, "seq", zone);
    TROUPE_TRY(v);
    e.seq = *v;
  }
  TROUPE_TRY(str(e.correlation_id, "correlation-id", false));
  TROUPE_TRY(str(e.causation_id, "causation-id", false));
  const auto detail_begin = off;
  {
    auto oh = read_one(bytes, off, detail_limits, "detail", zone);
    TROUPE_TRY(oh);
    if (oh->type != msgpack::type::MAP)
      return field_error(errc::wrong_shape, "detail", "not a map");
  }
  if (off != bytes.size())
    return error{errc::trailing_bytes,
                 "envelope: " + std::to_string(bytes.size() - off) + " bytes after the last field"};
  e.detail.assign(bytes.data() + detail_begin, off - detail_begin);
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
