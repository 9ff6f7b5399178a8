#include "wire/stream.hpp"

#include <algorithm>
#include <cstdint>

#include "wire/control.hpp"
#include "wire/limits.hpp"
#include "wire/msgpack_io.hpp"

namespace troupe::wire {

namespace {

using packer = msgpack::packer<string_sink>;

constexpr std::size_t max_streams = 4096;
constexpr std::size_t max_batch = 10000;

void head(packer& pk, std::uint32_t n, const char* verb) {
  pk.pack_array(n);
  pk.pack_uint32(control_version);
  pk.pack(std::string(verb));
}

error shape(const char* verb, const std::string& what) {
  return error{errc::wrong_shape, std::string(verb) + ": " + what};
}

bool is_str(const msgpack::object& o) { return o.type == msgpack::type::STR; }
bool is_uint(const msgpack::object& o) { return o.type == msgpack::type::POSITIVE_INTEGER; }
std::string str(const msgpack::object& o) { return std::string(o.via.str.ptr, o.via.str.size); }

// Opens `[version, verb, ...]` with `n` elements; the array stays in `oh`.
result<msgpack::object_handle> open(std::string_view bytes, const char* verb, std::uint32_t n,
                                    std::uint32_t n_max = 0) {
  n_max = std::max(n, n_max);
  // An event in a replay batch may be one this node cannot decode: the
  // batch still reads, and the event is dealt with on its own.
  auto oh = read_exactly_one(bytes, {max_batch + max_streams, max_peer_message, 4}, verb);
  if (!oh)
    return oh.err();
  const auto& o = oh->get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size < n || o.via.array.size > n_max)
    return shape(verb, "not an array of " + std::to_string(n)
                           + (n_max > n ? " to " + std::to_string(n_max) : std::string()));
  const auto* a = o.via.array.ptr;
  if (!is_uint(a[0]) || a[0].via.u64 != control_version)
    return error{errc::bad_version, std::string(verb) + ": unsupported version"};
  if (!is_str(a[1]) || str(a[1]) != verb)
    return shape(verb, "wrong verb");
  return oh;
}

} // namespace

std::string encode(const heartbeat& m) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  head(pk, 6, "heartbeat");
  pk.pack(m.origin);
  pk.pack_uint64(m.epoch);
  pk.pack_array(static_cast<std::uint32_t>(m.heads.size()));
  for (const auto& [s, seq] : m.heads) {
    pk.pack_array(2);
    pk.pack(s);
    pk.pack_uint64(seq);
  }
  pk.pack_uint64(static_cast<std::uint64_t>(std::max<std::int64_t>(0, m.time_ms)));
  return out;
}

std::string encode(const ack& m) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  head(pk, 4, "ack");
  pk.pack(m.node);
  pk.pack_array(static_cast<std::uint32_t>(m.acks.size()));
  for (const auto& a : m.acks) {
    pk.pack_array(3);
    pk.pack(a.stream);
    pk.pack_uint64(a.epoch);
    pk.pack_uint64(a.seq);
  }
  return out;
}

std::string encode(const replay_request& m) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  head(pk, 7, "replay");
  pk.pack(m.node);
  pk.pack(m.stream);
  pk.pack_uint64(m.epoch);
  pk.pack_uint64(m.from);
  pk.pack_uint32(m.max);
  return out;
}

std::string encode(const replay_batch& m) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  head(pk, 7, "events");
  pk.pack(m.stream);
  pk.pack_uint64(m.epoch);
  pk.pack_uint64(m.head);
  pk.pack_uint64(m.first_kept);
  pk.pack_array(static_cast<std::uint32_t>(m.events.size()));
  for (const auto& [seq, e] : m.events) {
    pk.pack_array(2);
    pk.pack_uint64(seq);
    pk.pack_bin(static_cast<std::uint32_t>(e.size()));
    pk.pack_bin_body(e.data(), static_cast<std::uint32_t>(e.size()));
  }
  return out;
}

result<heartbeat> decode_heartbeat(std::string_view bytes) {
  auto oh = open(bytes, "heartbeat", 5, 6);
  if (!oh)
    return oh.err();
  const auto& arr = oh->get().via.array;
  const auto* a = arr.ptr;
  if (!is_str(a[2]) || !is_uint(a[3]) || a[4].type != msgpack::type::ARRAY)
    return shape("heartbeat", "expected origin, epoch, heads");
  if (arr.size == 6 && (!is_uint(a[5]) || a[5].via.u64 > static_cast<std::uint64_t>(INT64_MAX)))
    return shape("heartbeat", "its time is not a count of milliseconds");
  heartbeat m{str(a[2]), a[3].via.u64, {}, arr.size == 6 ? static_cast<std::int64_t>(a[5].via.u64) : 0};
  for (std::uint32_t i = 0; i < a[4].via.array.size; ++i) {
    const auto& h = a[4].via.array.ptr[i];
    if (h.type != msgpack::type::ARRAY || h.via.array.size != 2 || !is_str(h.via.array.ptr[0])
        || !is_uint(h.via.array.ptr[1]))
      return shape("heartbeat", "a head is not [stream, seq]");
    m.heads.emplace_back(str(h.via.array.ptr[0]), h.via.array.ptr[1].via.u64);
  }
  return m;
}

result<ack> decode_ack(std::string_view bytes) {
  auto oh = open(bytes, "ack", 4);
  if (!oh)
    return oh.err();
  const auto* a = oh->get().via.array.ptr;
  if (!is_str(a[2]) || a[3].type != msgpack::type::ARRAY)
    return shape("ack", "expected node, acks");
  ack m{str(a[2]), {}};
  for (std::uint32_t i = 0; i < a[3].via.array.size; ++i) {
    const auto& x = a[3].via.array.ptr[i];
    if (x.type != msgpack::type::ARRAY || x.via.array.size != 3 || !is_str(x.via.array.ptr[0])
        || !is_uint(x.via.array.ptr[1]) || !is_uint(x.via.array.ptr[2]))
      return shape("ack", "an ack is not [stream, epoch, seq]");
    m.acks.push_back({str(x.via.array.ptr[0]), x.via.array.ptr[1].via.u64, x.via.array.ptr[2].via.u64});
  }
  return m;
}

result<replay_request> decode_replay_request(std::string_view bytes) {
  auto oh = open(bytes, "replay", 7);
  if (!oh)
    return oh.err();
  const auto* a = oh->get().via.array.ptr;
  if (!is_str(a[2]) || !is_str(a[3]) || !is_uint(a[4]) || !is_uint(a[5]) || !is_uint(a[6]))
    return shape("replay", "expected node, stream, epoch, from, max");
  return replay_request{str(a[2]), str(a[3]), a[4].via.u64, a[5].via.u64,
                        static_cast<std::uint32_t>(std::min<std::uint64_t>(a[6].via.u64, max_batch))};
}

result<replay_batch> decode_replay_batch(std::string_view bytes) {
  auto oh = open(bytes, "events", 7);
  if (!oh)
    return oh.err();
  const auto* a = oh->get().via.array.ptr;
  if (!is_str(a[2]) || !is_uint(a[3]) || !is_uint(a[4]) || !is_uint(a[5]) || a[6].type != msgpack::type::ARRAY)
    return shape("events", "expected stream, epoch, head, first kept, events");
  replay_batch m{str(a[2]), a[3].via.u64, a[4].via.u64, a[5].via.u64, {}};
  for (std::uint32_t i = 0; i < a[6].via.array.size; ++i) {
    const auto& p = a[6].via.array.ptr[i];
    if (p.type != msgpack::type::ARRAY || p.via.array.size != 2 || !is_uint(p.via.array.ptr[0])
        || p.via.array.ptr[1].type != msgpack::type::BIN)
      return shape("events", "an event is not [seq, binary]");
    const auto& e = p.via.array.ptr[1];
    m.events.emplace_back(p.via.array.ptr[0].via.u64, std::string(e.via.bin.ptr, e.via.bin.size));
  }
  return m;
}

std::string peer_verb(std::string_view bytes) {
  // [version, verb, ...]: look at the first two elements only.
  std::size_t off = 0;
  auto n = read_array_header(bytes, off, "message");
  if (!n || *n < 2)
    return {};
  auto v = read_one(bytes, off, {1, 16, 1}, "version");
  if (!v)
    return {};
  auto verb = read_one(bytes, off, {1, 16, 1}, "verb");
  if (!verb || verb->get().type != msgpack::type::STR)
    return {};
  auto s = str(verb->get());
  return s == "ack" || s == "replay" || s == "events" || s == "heartbeat" ? s : std::string();
}

} // namespace troupe::wire
