#include "wire/control.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "wire/msgpack_io.hpp"

namespace troupe::wire {
namespace {

std::string map_of(const std::string& k, const std::string& v) {
  std::string out;
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pk.pack_map(1);
  pk.pack(k);
  pk.pack(v);
  return out;
}

TEST(control, put_round_trip) {
  control_request r;
  r.verb = "put";
  r.entries.push_back({"troupe.client", "BookingRequested", map_of("flight", "TR100"), "", {"a", "b"}, {}});
  r.entries.push_back({"troupe.client", "Other", map_of("x", "y"), "corr", {}, {}});
  auto d = decode_request(encode(r));
  ASSERT_TRUE(d) << d.err().to_string();
  ASSERT_EQ(d->entries.size(), 2u);
  EXPECT_EQ(d->entries[0].detail, map_of("flight", "TR100"));
  EXPECT_EQ(d->entries[0].resources, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d->entries[1].correlation_id, "corr");

  control_reply rep;
  rep.ok = true;
  rep.results = {{"id-1", "", ""}, {"", "MalformedDetail", "not a map"}};
  auto dr = decode_reply(encode_reply(rep, "put"), "put");
  ASSERT_TRUE(dr) << dr.err().to_string();
  ASSERT_EQ(dr->results.size(), 2u);
  EXPECT_EQ(dr->results[0].id, "id-1");
  EXPECT_EQ(dr->results[1].error_code, "MalformedDetail");
  EXPECT_EQ(dr->results[1].error_message, "not a map");
}

TEST(control, query_and_status_round_trip) {
  control_request q;
  q.verb = "query";
  q.service = "booking";
  q.what = "bookings";
  q.args = R"({"ids":["x"]})";
  auto d = decode_request(encode(q));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->service, "booking");
  EXPECT_EQ(d->args, q.args);

  control_request s;
  s.verb = "status";
  ASSERT_TRUE(decode_request(encode(s)));

  control_reply err;
  err.ok = false;
  err.body = "no such service";
  auto dr = decode_reply(encode_reply(err, "query"), "query");
  ASSERT_TRUE(dr);
  EXPECT_FALSE(dr->ok);
  EXPECT_EQ(dr->body, "no such service");
}

TEST(control, malformed_requests_are_errors) {
  control_request unknown;
  unknown.verb = "explode";
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"empty", ""},
      {"not an array", "\xc3"},
      {"unknown verb", encode(unknown)},
      {"version 9", "\x92\x09\xa3put"},
      {"put without entries", "\x92\x01\xa3put"},
      {"put with empty entries", "\x93\x01\xa3put\x90"},
      {"put entry not an array", "\x93\x01\xa3put\x91\x01"},
      {"query missing args", "\x94\x01\xa5query\xa1x\xa1y"},
  };
  for (const auto& [name, bytes] : cases)
    EXPECT_FALSE(decode_request(bytes)) << name;
}

TEST(control, a_put_takes_at_most_max_put_entries) {
  const auto put_of = [](std::size_t n) {
    control_request r;
    r.verb = "put";
    for (std::size_t i = 0; i < n; ++i)
      r.entries.push_back({"s", "T", map_of("i", std::to_string(i)), "", {}, {}});
    return encode(r);
  };
  auto at = decode_request(put_of(max_put_entries));
  ASSERT_TRUE(at) << at.err().to_string();
  ASSERT_EQ(at->entries.size(), max_put_entries);
  EXPECT_EQ(at->entries.back().detail, map_of("i", std::to_string(max_put_entries - 1)));

  auto over = decode_request(put_of(max_put_entries + 1));
  ASSERT_FALSE(over) << "a put of " << max_put_entries + 1 << " entries was taken";
  EXPECT_EQ(over.err().code, errc::wrong_shape);
  EXPECT_EQ(over.err().message, "control message: put takes 1 to " + std::to_string(max_put_entries) + " entries");
}

TEST(control, a_put_detail_that_is_not_a_map_reaches_the_entry_check) {
  control_request r;
  r.verb = "put";
  r.entries.push_back({"s", "T", "\x91\x01", "", {}, {}});
  auto d = decode_request(encode(r));
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_EQ(d->entries[0].detail, "\x91\x01");
  EXPECT_EQ(check_entry({"s", "T", d->entries[0].detail, "", &d->entries[0].resources}).code, "MalformedDetail");
}

// A put is read in place, without building MessagePack objects: each
// field of an entry that has the wrong shape is named, and every cut and
// every trailing byte is refused, as the general reader refused them.
TEST(control, each_malformed_put_field_is_refused_and_names_its_entry) {
  const auto put_with = [](const std::function<void(msgpack::packer<string_sink>&)>& second_entry) {
    std::string out;
    string_sink sink{out};
    msgpack::packer<string_sink> pk(sink);
    pk.pack_array(3);
    pk.pack_uint32(control_version);
    pk.pack(std::string("put"));
    pk.pack_array(2);
    pk.pack_array(5);
    for (const char* s : {"s", "T"})
      pk.pack(std::string(s));
    out += map_of("k", "v");
    pk.pack(std::string(""));
    pk.pack_array(0);
    second_entry(pk);
    return out;
  };
  const auto fields = [&](std::vector<std::function<void(msgpack::packer<string_sink>&)>> f) {
    return put_with([f](auto& pk) {
      pk.pack_array(static_cast<std::uint32_t>(f.size()));
      for (const auto& one : f)
        one(pk);
    });
  };
  const auto str = [](const char* v) { return [v](auto& pk) { pk.pack(std::string(v)); }; };
  const auto num = [](auto& pk) { pk.pack(7); };
  const auto map = [](auto& pk) {
    pk.pack_map(1);
    pk.pack(std::string("k"));
    pk.pack(1);
  };
  const auto none = [](auto& pk) { pk.pack_array(0); };
  const auto strs = [](auto& pk) {
    pk.pack_array(1);
    pk.pack(std::string("arn:r"));
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"source not a string", fields({num, str("T"), map, str(""), none})},
      {"detail-type not a string", fields({str("s"), num, map, str(""), none})},
      {"correlation-id not a string", fields({str("s"), str("T"), map, num, none})},
      {"resources not an array", fields({str("s"), str("T"), map, str(""), num})},
      {"a resource not a string", fields({str("s"), str("T"), map, str(""), [](auto& pk) {
                                            pk.pack_array(1);
                                            pk.pack(1);
                                          }})},
      {"an empty idempotency key", fields({str("s"), str("T"), map, str(""), none, str("")})},
      {"an idempotency key too long",
       fields({str("s"), str("T"), map, str(""), none,
               [](auto& pk) { pk.pack(std::string(max_idempotency_key + 1, 'k')); }})},
      {"four fields", fields({str("s"), str("T"), map, str("")})},
      {"eight fields", fields({str("s"), str("T"), map, str(""), none, str("k"), num, num})},
      {"a time not an integer", fields({str("s"), str("T"), map, str(""), none, str("k"), str("now")})},
      {"a time of zero", fields({str("s"), str("T"), map, str(""), none, str("k"), [](auto& pk) { pk.pack(0); }})},
      {"a negative time", fields({str("s"), str("T"), map, str(""), none, str("k"), [](auto& pk) { pk.pack(-5); }})},
      {"a nil key without a time", fields({str("s"), str("T"), map, str(""), none, [](auto& pk) { pk.pack_nil(); }})},
      {"not an array", put_with(num)},
  };
  for (const auto& [name, bytes] : cases) {
    auto d = decode_request(bytes);
    ASSERT_FALSE(d) << name;
    EXPECT_EQ(d.err().code, errc::wrong_shape) << name << ": " << d.err().to_string();
    EXPECT_NE(d.err().message.find("entry 1: "), std::string::npos) << name << ": " << d.err().message;
  }
  const auto good = fields({str("s"), str("T"), map, str("c"), strs, str("key-1")});
  auto d = decode_request(good);
  ASSERT_TRUE(d) << d.err().to_string();
  ASSERT_EQ(d->entries.size(), 2u);
  EXPECT_EQ(d->entries[1].idempotency_key, "key-1");
  EXPECT_EQ(d->entries[1].resources, std::vector<std::string>{"arn:r"});
  EXPECT_EQ(d->entries[1].correlation_id, "c");
  for (std::size_t cut = 0; cut < good.size(); ++cut)
    EXPECT_FALSE(decode_request(good.substr(0, cut))) << "cut at " << cut;
  auto trailing = decode_request(good + '\x01');
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.err().code, errc::trailing_bytes);
  // A detail that is not a map is the entry's problem (MalformedDetail,
  // from check_entry), not the call's.
  auto not_map = decode_request(fields({str("s"), str("T"), num, str(""), none}));
  ASSERT_TRUE(not_map) << not_map.err().to_string();
  EXPECT_EQ(not_map->entries[1].detail, std::string("\x07", 1));
  auto too_deep = decode_request(fields({str("s"), str("T"), [](auto& pk) {
                                            for (std::size_t i = 0; i < put_detail_depth + 1; ++i)
                                              pk.pack_array(1);
                                            pk.pack(1);
                                          },
                                          str(""), none}));
  EXPECT_FALSE(too_deep);
  // A time, after a key or after nil for none.
  const auto when = [](auto& pk) { pk.pack(std::int64_t{1'800'000'000'123}); };
  for (bool keyed : {true, false}) {
    auto t = decode_request(keyed ? fields({str("s"), str("T"), map, str("c"), strs, str("key-1"), when})
                                  : fields({str("s"), str("T"), map, str("c"), strs,
                                            [](auto& pk) { pk.pack_nil(); }, when}));
    ASSERT_TRUE(t) << t.err().to_string();
    EXPECT_EQ(t->entries[1].time_ms, 1'800'000'000'123);
    EXPECT_EQ(t->entries[1].idempotency_key, keyed ? "key-1" : "");
    EXPECT_EQ(t->entries[0].time_ms, 0);
  }
}

TEST(control, a_put_entry_keeps_its_key_and_time_through_encode_and_decode) {
  for (auto [key, time] : {std::pair<std::string, std::int64_t>{"", 0}, {"k", 0}, {"", 1'800'000'000'000},
                           {"k", 1'800'000'000'000}}) {
    control_request r;
    r.verb = "put";
    put_entry e;
    e.source = "s";
    e.detail_type = "T";
    e.detail = std::string("\x80", 1);
    e.idempotency_key = key;
    e.time_ms = time;
    r.entries.push_back(e);
    auto d = decode_request(encode(r));
    ASSERT_TRUE(d) << d.err().to_string();
    EXPECT_EQ(d->entries[0].idempotency_key, key);
    EXPECT_EQ(d->entries[0].time_ms, time);
  }
}

} // namespace
} // namespace troupe::wire

namespace troupe::wire {
namespace {

TEST(control, large_query_replies_decode) {
  control_reply rep;
  rep.ok = true;
  rep.body = std::string(4 * 1024 * 1024, 'x');
  auto d = decode_reply(encode_reply(rep, "query"), "query");
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_EQ(d->body.size(), rep.body.size());
}

} // namespace
} // namespace troupe::wire

namespace troupe::wire {
namespace {

/// The bytes of a string literal, NULs included.
template <std::size_t N>
std::string raw(const char (&s)[N]) {
  return std::string(s, N - 1);
}

/// A read request's bytes: [1, "read", services, after, limit], each
/// given as MessagePack.
std::string read_bytes(const std::string& services, const std::string& after, const std::string& limit) {
  return std::string("\x95\x01\xa4read", 7) + services + after + limit;
}

TEST(control, read_round_trip) {
  control_request r;
  r.verb = "read";
  r.services = {"booking", "payment"};
  r.after = state_key{"booking", "bookings", "B-7"};
  r.limit = 500;
  auto d = decode_request(encode(r));
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_EQ(d->verb, "read");
  EXPECT_EQ(d->services, r.services);
  ASSERT_TRUE(d->after);
  EXPECT_EQ(*d->after, *r.after);
  EXPECT_EQ(d->limit, 500u);

  r.services.clear();
  r.after.reset();
  r.limit = max_read_rows;
  d = decode_request(encode(r));
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_TRUE(d->services.empty());
  EXPECT_FALSE(d->after);
  EXPECT_EQ(d->limit, max_read_rows);
}

TEST(control, read_page_round_trip) {
  control_reply rep;
  rep.ok = true;
  rep.page.rows = {{{"booking", "bookings", "B-1"}, R"({"state":"CONFIRMED"})"},
                   {{"payment", "payments", "B-1"}, R"({"state":"CHARGED"})"}};
  rep.page.next = state_key{"payment", "payments", "B-1"};
  rep.page.inbox = 3;
  rep.page.outbox = {{"BookingCreated", 12, 1}, {"PaymentConfirmed", 4, 0}};
  auto d = decode_reply(encode_reply(rep, "read"), "read");
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_TRUE(d->ok);
  ASSERT_EQ(d->page.rows.size(), 2u);
  EXPECT_EQ(d->page.rows[1].at, (state_key{"payment", "payments", "B-1"}));
  EXPECT_EQ(d->page.rows[1].value, R"({"state":"CHARGED"})");
  ASSERT_TRUE(d->page.next);
  EXPECT_EQ(*d->page.next, *rep.page.next);
  EXPECT_EQ(d->page.inbox, 3u);
  ASSERT_EQ(d->page.outbox.size(), 2u);
  EXPECT_EQ(d->page.outbox[0].stream, "BookingCreated");
  EXPECT_EQ(d->page.outbox[0].unacked, 12u);
  EXPECT_EQ(d->page.outbox[0].expired, 1u);

  // The last page has no next; a refused read is an error with a message.
  rep.page.next.reset();
  d = decode_reply(encode_reply(rep, "read"), "read");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->page.next);
  control_reply refused;
  refused.body = "AccessDenied: client 'shop' lacks the role 'reader' that 'read' needs";
  d = decode_reply(encode_reply(refused, "read"), "read");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->ok);
  EXPECT_EQ(d->body, refused.body);
}

TEST(control, malformed_reads_are_errors_naming_what_is_wrong) {
  const std::string none = "\x90", one_service = "\x91\xa1" "b", limit = "\x0a";
  const std::string after = "\x93\xa1s\xa1t\xa1k";
  std::string many = raw("\xdc\x00\x41");  // array 16 of 65 names
  for (int i = 0; i < 65; ++i)
    many += "\xa1" "b";
  struct row {
    const char* name;
    std::string bytes;
    const char* says;
  };
  const row rows[] = {
      {"missing limit", std::string("\x94\x01\xa4read", 7) + none + none, "read takes services, after and limit"},
      {"services not an array", read_bytes("\xa1" "b", none, limit), "services is not an array of strings"},
      {"a service not a string", read_bytes("\x91\x01", none, limit), "services is not an array of strings"},
      {"an empty service", read_bytes("\x91\xa0", none, limit), "a service name must have 1 to"},
      {"too many services", read_bytes(many, none, limit), "more than 64 services"},
      {"after of two", read_bytes(none, "\x92\xa1s\xa1t", limit), "after is neither [] nor"},
      {"after not strings", read_bytes(none, "\x93\xa1s\xa1t\x01", limit), "after is neither [] nor"},
      {"limit 0", read_bytes(one_service, after, raw("\x00")), "limit must be 1 to 10000"},
      {"limit over", read_bytes(one_service, after, "\xcd\x27\x11"), "limit must be 1 to 10000"},
      {"limit negative", read_bytes(one_service, after, "\xff"), "limit must be 1 to 10000"},
      {"limit a string", read_bytes(one_service, after, "\xa1" "1"), "limit must be 1 to 10000"},
      {"trailing bytes", read_bytes(one_service, after, limit) + "\x01", "after the value"},
  };
  for (const auto& r : rows) {
    auto d = decode_request(r.bytes);
    ASSERT_FALSE(d) << r.name;
    EXPECT_NE(d.err().message.find(r.says), std::string::npos) << r.name << ": " << d.err().message;
  }
  auto ok = decode_request(read_bytes(one_service, after, limit));
  ASSERT_TRUE(ok) << ok.err().to_string();
  EXPECT_EQ(ok->limit, 10u);
}

TEST(control, malformed_read_pages_are_errors) {
  const auto reply = [](const std::string& body) { return std::string("\x93\x01\xa2ok", 5) + body; };
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"body a string", reply(raw("\xa1x"))},
      {"three fields", reply(raw("\x93\x90\x90\x00"))},
      {"a row of three", reply(raw("\x94\x91\x93\xa1s\xa1t\xa1k\x90\x00\x90"))},
      {"a row value not a string", reply(raw("\x94\x91\x94\xa1s\xa1t\xa1k\x01\x90\x00\x90"))},
      {"next of one", reply(raw("\x94\x90\x91\xa1s\x00\x90"))},
      {"inbox negative", reply(raw("\x94\x90\x90\xff\x90"))},
      {"outbox entry short", reply(raw("\x94\x90\x90\x00\x91\x92\xa1s\x01"))},
      {"outbox count a string", reply(raw("\x94\x90\x90\x00\x91\x93\xa1s\xa1x\x00"))},
  };
  for (const auto& [name, bytes] : cases)
    EXPECT_FALSE(decode_reply(bytes, "read")) << name;
  EXPECT_TRUE(decode_reply(reply(raw("\x94\x90\x90\x00\x90")), "read")) << "an empty last page";
}

TEST(control, a_full_read_page_fits_in_a_reply) {
  // The most rows a page may hold, each as large as the node lets the
  // byte budget run, decode within the reply's limits.
  control_reply rep;
  rep.ok = true;
  const std::string value(read_page_bytes / max_read_rows, 'v');
  for (std::uint32_t i = 0; i < max_read_rows; ++i)
    rep.page.rows.push_back({{"booking", "bookings", "B-" + std::to_string(i)}, value});
  const auto bytes = encode_reply(rep, "read");
  EXPECT_LT(bytes.size(), max_reply_body);
  auto d = decode_reply(bytes, "read");
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_EQ(d->page.rows.size(), max_read_rows);
}

} // namespace
} // namespace troupe::wire
