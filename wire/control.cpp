#include "wire/control.hpp"

#include <algorithm>
#include <limits>
#include <optional>

#include "wire/msgpack_io.hpp"

namespace troupe::wire {

namespace {

using packer = msgpack::packer<string_sink>;

error shape(const std::string& what) { return error{errc::wrong_shape, "control message: " + what}; }

bool is_str(const msgpack::object& o) { return o.type == msgpack::type::STR; }
std::string str(const msgpack::object& o) { return std::string(o.via.str.ptr, o.via.str.size); }

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


/// One entry of a put, read in place: [source, detail-type, detail,
/// correlation-id, resources(, idempotency-key (, time))].
result<put_entry> read_entry(reader& in, std::uint32_t i) {
  const auto where = [i] { return "entry " + std::to_string(i) + ": "; };
  // An entry's strings may run long here: check_entry answers each entry
  // with its own error, so only the request's size bounds them.
  const auto text = [&](const char* what) -> result<std::string> {
    auto s = in.str(what, max_request_bytes);
    if (!s)
      return s.err().code == errc::wrong_shape
                 ? shape(where() + "source, detail-type and correlation-id must be strings")
                 : s.err();
    return std::string(*s);
  };
  auto fields = in.array("entry", 7);
  if (!fields || *fields < 5)
    return shape(where() + "not [source, detail-type, detail, correlation-id, resources(, idempotency-key (, time))]");
  put_entry pe;
  for (auto [into, what] : {std::pair{&pe.source, "source"}, std::pair{&pe.detail_type, "detail-type"}}) {
    auto s = text(what);
    if (!s)
      return s.err();
    *into = std::move(*s);
  }
  // Any value the request can hold: a detail that is not one map within
  // detail_limits is the entry's own MalformedDetail (check_entry), not
  // the whole call's error. Only nesting past put_detail_depth, which
  // the walk must bound, fails the call.
  const read_limits detail{max_request_bytes, max_request_bytes, put_detail_depth};
  auto d = in.value(detail, "detail");
  if (!d)
    return d.err();
  pe.detail.assign(d->data(), d->size());
  auto correlation = text("correlation-id");
  if (!correlation)
    return correlation.err();
  pe.correlation_id = std::move(*correlation);
  auto count = in.array("resources", max_detail_items);
  if (!count)
    return count.err().code == errc::wrong_shape ? shape(where() + "resources must be an array") : count.err();
  pe.resources.reserve(*count);
  for (std::uint32_t j = 0; j < *count; ++j) {
    auto r = in.str("resource", max_request_bytes);
    if (!r)
      return r.err().code == errc::wrong_shape ? shape(where() + "resources must be strings") : r.err();
    pe.resources.emplace_back(*r);
  }
  if (*fields >= 6 && !(*fields == 7 && in.nil())) {
    auto key = in.str("idempotency key", max_idempotency_key);
    if (!key || key->empty())
      return !key && key.err().code != errc::wrong_shape && key.err().code != errc::too_large
                 ? key.err()
                 : shape(where() + "the idempotency key must be a string of 1 to "
                         + std::to_string(max_idempotency_key) + " bytes");
    pe.idempotency_key = std::string(*key);
  }
  if (*fields == 7) {
    auto t = in.integer("time");
    if (!t || *t <= 0)
      return !t && t.err().code != errc::wrong_shape ? t.err()
                                                     : shape(where() + "the time must be a positive integer (ms)");
    pe.time_ms = *t;
  }
  return pe;
}

/// A put, read in place without building MessagePack objects (a put of a
/// thousand entries is the hot path of every producer); nullopt when the
/// message does not start as [version, "put", ...], for the general reader.
std::optional<result<control_request>> decode_put(std::string_view bytes) {
  reader in(bytes);
  auto n = in.array("control message", 3);
  auto version = n ? in.uint("version") : result<std::uint64_t>(n.err());
  if (!version || *version != control_version)
    return std::nullopt;
  auto verb = in.str("verb", 16);
  if (!verb || *verb != "put")
    return std::nullopt;
  control_request r;
  r.verb = "put";
  auto count = *n == 3 ? in.array("entries", std::numeric_limits<std::uint32_t>::max()) : result<std::uint32_t>(0u);
  if (*n != 3 || (!count && count.err().code == errc::wrong_shape))
    return result<control_request>(shape("put takes one array of entries"));
  if (!count)
    return result<control_request>(count.err());
  if (*count == 0 || *count > max_put_entries)
    return result<control_request>(shape("put takes 1 to " + std::to_string(max_put_entries) + " entries"));
  r.entries.reserve(*count);
  for (std::uint32_t i = 0; i < *count; ++i) {
    auto e = read_entry(in, i);
    if (!e)
      return result<control_request>(e.err());
    r.entries.push_back(std::move(*e));
  }
  if (!in.at_end())
    return result<control_request>(error{errc::trailing_bytes, "control message: "
                                                                   + std::to_string(bytes.size() - in.offset())
                                                                   + " bytes after the value"});
  return result<control_request>(std::move(r));
}


bool is_uint(const msgpack::object& o) { return o.type == msgpack::type::POSITIVE_INTEGER; }

/// Whether `o` is an array of `n` strings.
bool strings(const msgpack::object& o, std::uint32_t n) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != n)
    return false;
  return std::all_of(o.via.array.ptr, o.via.array.ptr + n, is_str);
}

/// A row's place: [] for none, else [service, table, key].
void pack_key(packer& pk, const std::optional<state_key>& k) {
  if (!k) {
    pk.pack_array(0);
    return;
  }
  pk.pack_array(3);
  pk.pack(k->service);
  pk.pack(k->table);
  pk.pack(k->key);
}

result<std::optional<state_key>> key_of(const msgpack::object& o, const char* what) {
  if (strings(o, 0))
    return std::optional<state_key>();
  if (!strings(o, 3))
    return shape(std::string(what) + " is neither [] nor [service, table, key] (strings)");
  const auto* k = o.via.array.ptr;
  return std::optional<state_key>(state_key{str(k[0]), str(k[1]), str(k[2])});
}

/// A read's arguments: [services], after, limit, within their limits.
result<void> read_args(const msgpack::object_array& a, control_request& r) {
  if (a.size != 5)
    return shape("read takes services, after and limit");
  const auto& services = a.ptr[2];
  if (services.type != msgpack::type::ARRAY || !strings(services, services.via.array.size))
    return shape("read: services is not an array of strings");
  if (services.via.array.size > max_read_services)
    return error{errc::too_large, "control message: read names more than " + std::to_string(max_read_services)
                                      + " services"};
  for (std::uint32_t i = 0; i < services.via.array.size; ++i) {
    auto s = str(services.via.array.ptr[i]);
    if (s.empty() || s.size() > max_string_bytes)
      return error{errc::invalid_field, "control message: read: a service name must have 1 to "
                                            + std::to_string(max_string_bytes) + " bytes"};
    r.services.push_back(std::move(s));
  }
  auto after = key_of(a.ptr[3], "read: after");
  if (!after)
    return after.err();
  r.after = std::move(*after);
  const auto& limit = a.ptr[4];
  if (!is_uint(limit) || limit.via.u64 == 0 || limit.via.u64 > max_read_rows)
    return error{errc::invalid_field, "control message: read: limit must be 1 to " + std::to_string(max_read_rows)
                                          + " rows"};
  r.limit = static_cast<std::uint32_t>(limit.via.u64);
  return {};
}

void pack_page(packer& pk, const read_page& p) {
  pk.pack_array(4);
  pk.pack_array(static_cast<std::uint32_t>(p.rows.size()));
  for (const auto& row : p.rows) {
    pk.pack_array(4);
    pk.pack(row.at.service);
    pk.pack(row.at.table);
    pk.pack(row.at.key);
    pk.pack(row.value);
  }
  pack_key(pk, p.next);
  pk.pack_uint64(p.inbox);
  pk.pack_array(static_cast<std::uint32_t>(p.outbox.size()));
  for (const auto& b : p.outbox) {
    pk.pack_array(3);
    pk.pack(b.stream);
    pk.pack_uint64(b.unacked);
    pk.pack_uint64(b.expired);
  }
}

/// A read's page: [rows, next, inbox, outbox], each of its shape.
result<read_page> read_page_of(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 4)
    return shape("read reply body is not [rows, next, inbox, outbox]");
  const auto* f = o.via.array.ptr;
  read_page p;
  if (f[0].type != msgpack::type::ARRAY || f[0].via.array.size > max_read_rows)
    return shape("read reply: rows is not an array of at most " + std::to_string(max_read_rows));
  for (std::uint32_t i = 0; i < f[0].via.array.size; ++i) {
    const auto& x = f[0].via.array.ptr[i];
    if (!strings(x, 4))
      return shape("read reply: a row is not [service, table, key, value] (strings)");
    const auto* v = x.via.array.ptr;
    p.rows.push_back({{str(v[0]), str(v[1]), str(v[2])}, str(v[3])});
  }
  auto next = key_of(f[1], "read reply: next");
  if (!next)
    return next.err();
  p.next = std::move(*next);
  if (!is_uint(f[2]))
    return shape("read reply: inbox is not a count");
  p.inbox = f[2].via.u64;
  if (f[3].type != msgpack::type::ARRAY)
    return shape("read reply: outbox is not an array");
  for (std::uint32_t i = 0; i < f[3].via.array.size; ++i) {
    const auto& x = f[3].via.array.ptr[i];
    if (x.type != msgpack::type::ARRAY || x.via.array.size != 3 || !is_str(x.via.array.ptr[0])
        || !is_uint(x.via.array.ptr[1]) || !is_uint(x.via.array.ptr[2]))
      return shape("read reply: an outbox entry is not [stream, unacked, expired]");
    p.outbox.push_back({str(x.via.array.ptr[0]), x.via.array.ptr[1].via.u64, x.via.array.ptr[2].via.u64});
  }
  return p;
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
      const bool keyed = !e.idempotency_key.empty(), timed = e.time_ms != 0;
      pk.pack_array(timed ? 7 : keyed ? 6 : 5);
      pk.pack(e.source);
      pk.pack(e.detail_type);
      out.append(e.detail);
      pk.pack(e.correlation_id);
      pk.pack(e.resources);
      if (keyed)
        pk.pack(e.idempotency_key);
      else if (timed)
        pk.pack_nil();
      if (timed)
        pk.pack_int64(e.time_ms);
    }
  } else if (r.verb == "query") {
    pk.pack_array(5);
    pk.pack_uint32(control_version);
    pk.pack(r.verb);
    pk.pack(r.service);
    pk.pack(r.what);
    pk.pack(r.args);
  } else if (r.verb == "trace") {
    pk.pack_array(4);
    pk.pack_uint32(control_version);
    pk.pack(r.verb);
    pk.pack(r.what);
    pk.pack(r.args);
  } else if (r.verb == "read") {
    pk.pack_array(5);
    pk.pack_uint32(control_version);
    pk.pack(r.verb);
    pk.pack(r.services);
    pack_key(pk, r.after);
    pk.pack_uint32(r.limit);
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
  if (auto put = decode_put(bytes))
    return std::move(*put);
  auto oh = open(bytes, max_request_bytes);
  if (!oh)
    return oh.err();
  const auto& a = oh->get().via.array;
  control_request r;
  r.verb = str(a.ptr[1]);
  if (r.verb == "put") {
    return shape("put takes one array of entries");  // decode_put read every other put
  } else if (r.verb == "query") {
    if (a.size != 5 || !is_str(a.ptr[2]) || !is_str(a.ptr[3]) || !is_str(a.ptr[4]))
      return shape("query takes service, what and args (strings)");
    r.service = str(a.ptr[2]);
    r.what = str(a.ptr[3]);
    r.args = str(a.ptr[4]);
  } else if (r.verb == "trace") {
    if (a.size != 4 || !is_str(a.ptr[2]) || !is_str(a.ptr[3]))
      return shape("trace takes what and args (strings)");
    r.what = str(a.ptr[2]);
    r.args = str(a.ptr[3]);
    if (r.what != "saga" && r.what != "sagas")
      return error{errc::invalid_field, "control message: trace asks for 'saga' or 'sagas', not '" + r.what + "'"};
  } else if (r.verb == "status") {
    if (a.size != 2)
      return shape("status takes no arguments");
  } else if (r.verb == "read") {
    TROUPE_TRY(read_args(a, r));
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
  } else if (r.ok && verb == "read") {
    pack_page(pk, r.page);
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
  } else if (r.ok && verb == "read") {
    auto page = read_page_of(a.ptr[2]);
    if (!page)
      return page.err();
    r.page = std::move(*page);
  } else {
    if (!is_str(a.ptr[2]))
      return shape("reply body is not a string");
    r.body = str(a.ptr[2]);
  }
  return r;
}

} // namespace troupe::wire
