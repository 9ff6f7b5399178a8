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

TEST(control, put_detail_must_be_a_map) {
  control_request r;
  r.verb = "put";
  r.entries.push_back({"s", "T", "\x91\x01", "", {}, {}});
  EXPECT_FALSE(decode_request(encode(r)));
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
      {"detail not a map", fields({str("s"), str("T"), num, str(""), none})},
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
