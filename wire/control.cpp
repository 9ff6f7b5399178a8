#include "wire/control.hpp"

#include <algorithm>

#include "wire/msgpack_io.hpp"

namespace troupe::wire {

namespace {

using packer = msgpack::packer<string_sink>;

error shape(const std::string& what) { return error{errc::wrong_shape, "control message: " + what}; }

bool is_str(const msgpack::object& o) { return o.type == msgpack::type::STR; }
std::string str(const msgpack::object& o) { return std::string(o.via.str.ptr, o.via.str.size); }

std::string repack(const msgpack::object& o) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  pk.pack(o);
  return out;
}

// Reads `[version, head, ...]` and checks the version; the caller gets the array.
// A request's limits let every entry through whole (an entry is checked on
// its own, and answered with its own error); a reply's body is one string.
result<msgpack::object_handle> open(std::string_view bytes, std::size_t max_string) {
  const read_limits limits{std::max(max_put_entries, max_detail_items), max_string, max_detail_depth + 3};
  auto oh = read_exactly_one(bytes, limits, "control message");
  if (!oh)
    return oh.err();
  const auto& o = oh->get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size < 2)
    return shape("not an array [version, verb, ...]");
  const auto& v = o.via.array.ptr[0];
  if (v.type != msgpack::type::POSITIVE_INTEGER || v.via.u64 != control_version)
    return error{errc::bad_version, "control message: unsupported version"};
  if (!is_str(o.via.array.ptr[1]))
    return shape("verb is not a string");
  return oh;
}

} // namespace

std::string encode(const control_request& r) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  if (r.verb == "put") {
    pk.pack_array(3);
    pk.pack_uint32(control_version);
    pk.pack(r.verb);
    pk.pack_array(static_cast<std::uint32_t>(r.entries.size()));
    for (const auto& e : r.entries) {
      const bool keyed = !e.idempotency_key.empty();
      pk.pack_array(keyed ? 6 : 5);
      pk.pack(e.source);
      pk.pack(e.detail_type);
      out.append(e.detail);
      pk.pack(e.correlation_id);
      pk.pack(e.resources);
      if (keyed)
        pk.pack(e.idempotency_key);
    }
  } else if (r.verb == "query") {
    pk.pack_array(5);
    pk.pack_uint32(control_version);
    pk.pack(r.verb);
    pk.pack(r.service);
    pk.pack(r.what);
    pk.pack(r.args);
  } else {
    pk.pack_array(2);
    pk.pack_uint32(control_version);
    pk.pack(r.verb);
  }
  return out;
}

result<control_request> decode_request(std::string_view bytes) {
  if (bytes.size() > max_request_bytes)
    return error{errc::too_large, "control message of " + std::to_string(bytes.size()) + " bytes"};
  auto oh = open(bytes, max_request_bytes);
  if (!oh)
    return oh.err();
  const auto& a = oh->get().via.array;
  control_request r;
  r.verb = str(a.ptr[1]);
  if (r.verb == "put") {
    if (a.size != 3 || a.ptr[2].type != msgpack::type::ARRAY)
      return shape("put takes one array of entries");
    const auto& entries = a.ptr[2].via.array;
    if (entries.size == 0 || entries.size > max_put_entries)
      return shape("put takes 1 to " + std::to_string(max_put_entries) + " entries");
    for (std::uint32_t i = 0; i < entries.size; ++i) {
      const auto& e = entries.ptr[i];
      const auto where = "entry " + std::to_string(i) + ": ";
      if (e.type != msgpack::type::ARRAY || (e.via.array.size != 5 && e.via.array.size != 6))
        return shape(where + "not [source, detail-type, detail, correlation-id, resources(, idempotency-key)]");
      const auto* f = e.via.array.ptr;
      if (!is_str(f[0]) || !is_str(f[1]) || !is_str(f[3]))
        return shape(where + "source, detail-type and correlation-id must be strings");
      if (f[2].type != msgpack::type::MAP)
        return shape(where + "detail must be a map");
      if (f[4].type != msgpack::type::ARRAY)
        return shape(where + "resources must be an array");
      put_entry pe{str(f[0]), str(f[1]), repack(f[2]), str(f[3]), {}, {}};
      if (e.via.array.size == 6) {
        if (!is_str(f[5]) || f[5].via.str.size == 0 || f[5].via.str.size > max_idempotency_key)
          return shape(where + "the idempotency key must be a string of 1 to " + std::to_string(max_idempotency_key)
                       + " bytes");
        pe.idempotency_key = str(f[5]);
      }
      for (std::uint32_t j = 0; j < f[4].via.array.size; ++j) {
        if (!is_str(f[4].via.array.ptr[j]))
          return shape(where + "resources must be strings");
        pe.resources.push_back(str(f[4].via.array.ptr[j]));
      }
      r.entries.push_back(std::move(pe));
    }
  } else if (r.verb == "query") {
    if (a.size != 5 || !is_str(a.ptr[2]) || !is_str(a.ptr[3]) || !is_str(a.ptr[4]))
      return shape("query takes service, what and args (strings)");
    r.service = str(a.ptr[2]);
    r.what = str(a.ptr[3]);
    r.args = str(a.ptr[4]);
  } else if (r.verb == "status") {
    if (a.size != 2)
      return shape("status takes no arguments");
  } else {
    return error{errc::invalid_field, "control message: unknown verb '" + r.verb + "'"};
  }
  return r;
}

std::string encode_reply(const control_reply& r, const std::string& verb) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  pk.pack_array(3);
  pk.pack_uint32(control_version);
  pk.pack(std::string(r.ok ? "ok" : "error"));
  if (r.ok && verb == "put") {
    pk.pack_array(static_cast<std::uint32_t>(r.results.size()));
    for (const auto& x : r.results) {
      pk.pack_array(3);
      pk.pack(x.id);
      pk.pack(x.error_code);
      pk.pack(x.error_message);
    }
  } else {
    pk.pack(r.body);
  }
  return out;
}

result<control_reply> decode_reply(std::string_view bytes, const std::string& verb) {
  auto oh = open(bytes, max_reply_body);
  if (!oh)
    return oh.err();
  const auto& a = oh->get().via.array;
  if (a.size != 3)
    return shape("a reply has three elements");
  control_reply r;
  const auto head = str(a.ptr[1]);
  if (head != "ok" && head != "error")
    return shape("reply is neither ok nor error");
  r.ok = head == "ok";
  if (r.ok && verb == "put") {
    if (a.ptr[2].type != msgpack::type::ARRAY)
      return shape("put reply body is not an array");
    for (std::uint32_t i = 0; i < a.ptr[2].via.array.size; ++i) {
      const auto& x = a.ptr[2].via.array.ptr[i];
      if (x.type != msgpack::type::ARRAY || x.via.array.size != 3 || !is_str(x.via.array.ptr[0])
          || !is_str(x.via.array.ptr[1]) || !is_str(x.via.array.ptr[2]))
        return shape("put reply entry is not [id, error code, error message]");
      r.results.push_back({str(x.via.array.ptr[0]), str(x.via.array.ptr[1]), str(x.via.array.ptr[2])});
    }
  } else {
    if (!is_str(a.ptr[2]))
      return shape("reply body is not a string");
    r.body = str(a.ptr[2]);
  }
  return r;
}

} // namespace troupe::wire
