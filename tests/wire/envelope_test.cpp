#include "wire/envelope.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "wire/msgpack_io.hpp"

namespace troupe::wire {
namespace {

std::string detail_map() {
  std::string out;
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pk.pack_map(2);
  pk.pack(std::string("booking_id"));
  pk.pack(std::string("B-42"));
  pk.pack(std::string("amount"));
  pk.pack(249.9);
  return out;
}

envelope sample() {
  envelope e;
  e.id = make_uuid();
  e.source = "troupe.booking";
  e.detail_type = "BookingCreated";
  e.time_ms = 1795000000123;
  e.resources = {"flight/TR100"};
  e.origin = "booking";
  e.epoch = 7;
  e.seq = 12345678901ULL;
  e.correlation_id = "B-42";
  e.causation_id = "c0ffee";
  e.detail = detail_map();
  return e;
}

std::string encoded(const envelope& e) {
  std::string out;
  auto r = encode(e, out);
  EXPECT_TRUE(r) << (r ? "" : r.err().to_string());
  return out;
}

// Packs an array of `n` msgpack values produced by `fill`.
template <class F>
std::string pack_array(std::uint32_t n, F fill) {
  std::string out;
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pk.pack_array(n);
  fill(pk, out);
  return out;
}

TEST(envelope, round_trip) {
  const auto e = sample();
  auto d = decode(encoded(e));
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_EQ(*d, e);
}

TEST(envelope, round_trip_empty_optional_fields) {
  auto e = sample();
  e.resources.clear();
  e.correlation_id.clear();
  e.causation_id.clear();
  e.time_ms = -5;
  auto d = decode(encoded(e));
  ASSERT_TRUE(d) << d.err().to_string();
  EXPECT_EQ(*d, e);
}

TEST(envelope, encode_refuses_detail_that_is_not_a_map) {
  auto e = sample();
  std::string out;
  e.detail = "\x93\x01\x02\x03";  // [1,2,3]
  EXPECT_FALSE(encode(e, out));
  e.detail = "";
  EXPECT_FALSE(encode(e, out));
  e.detail = detail_map() + "\x01";  // a map and a stray byte
  EXPECT_FALSE(encode(e, out));
}

TEST(envelope, every_truncation_is_an_error) {
  const auto bytes = encoded(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto d = decode(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(d) << "prefix of " << n << " bytes decoded";
  }
}

TEST(envelope, trailing_bytes_are_an_error) {
  auto d = decode(encoded(sample()) + '\xc0');
  ASSERT_FALSE(d);
  EXPECT_EQ(d.err().code, errc::trailing_bytes);
}

TEST(envelope, every_single_byte_corruption_is_handled) {
  // Overwriting any byte must never throw, and must either fail with an
  // error that names a decoding problem, or decode to an envelope that is
  // within every limit (it encodes again and reads back the same) and is
  // not the original one: a changed byte is never silently ignored.
  const auto original = sample();
  const auto bytes = encoded(original);
  const std::set<errc> decoding_errors = {errc::truncated,   errc::trailing_bytes, errc::not_msgpack,
                                          errc::wrong_shape, errc::bad_version,    errc::invalid_field,
                                          errc::too_large};
  std::size_t refused = 0, decoded = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    for (int v : {0x00, 0xc1, 0xdd, 0xff, 0x9f, 0xdf}) {
      auto copy = bytes;
      copy[i] = static_cast<char>(v);
      if (copy == bytes)
        continue;
      const auto where = "byte " + std::to_string(i) + " set to " + std::to_string(v);
      std::optional<result<envelope>> d;
      ASSERT_NO_THROW(d.emplace(decode(copy))) << where;
      if (!*d) {
        ++refused;
        const auto& code = d->err().code;
        EXPECT_EQ(&code.category(), &make_error_code(errc::truncated).category()) << where << ": a wire error";
        EXPECT_EQ(decoding_errors.count(static_cast<errc>(code.value())), 1u) << where << ": " << d->err().to_string();
        EXPECT_FALSE(d->err().message.empty()) << where;
        continue;
      }
      ++decoded;
      const auto& e = **d;
      EXPECT_NE(e, original) << where << " decoded to the original envelope";
      std::string again;
      auto r = encode(e, again);
      ASSERT_TRUE(r) << where << " decoded to an envelope the encoder refuses: " << r.err().to_string();
      auto back = decode(again);
      ASSERT_TRUE(back) << where << ": " << back.err().to_string();
      EXPECT_EQ(*back, e) << where;
    }
  // Both outcomes happen: the loop looked at real cases of each.
  EXPECT_GT(refused, 0u);
  EXPECT_GT(decoded, 0u);
}

struct bad_case {
  const char* name;
  std::string bytes;
  errc code;
};

TEST(envelope, malformed_inputs_name_the_problem) {
  const auto good = encoded(sample());
  // The 6-byte bomb: a str32 header claiming 4 GiB.
  const std::string bomb = "\x9c\x01\xdb\xff\xff\xff\xff";
  const std::vector<bad_case> cases = {
      {"empty", "", errc::truncated},
      {"not an array", "\x81\xa1x\x01", errc::wrong_shape},
      {"nil", "\xc0", errc::wrong_shape},
      {"empty array", "\x90", errc::wrong_shape},
      {"version 2",
       pack_array(12, [](auto& pk, auto&) { pk.pack_uint32(2); }), errc::bad_version},
      {"version as string",
       pack_array(12, [](auto& pk, auto&) { pk.pack(std::string("1")); }), errc::wrong_shape},
      {"too few fields",
       pack_array(3, [](auto& pk, auto&) {
         pk.pack_uint32(1);
         pk.pack(std::string("a"));
         pk.pack(std::string("b"));
       }),
       errc::wrong_shape},
      {"id not a string",
       pack_array(12, [](auto& pk, auto&) {
         pk.pack_uint32(1);
         pk.pack(42);
       }),
       errc::wrong_shape},
      {"empty id",
       pack_array(12, [](auto& pk, auto&) {
         pk.pack_uint32(1);
         pk.pack(std::string(""));
       }),
       errc::invalid_field},
      {"string length bomb", bomb, errc::truncated},
      {"array length bomb", "\xdd\xff\xff\xff\xff\x01", errc::wrong_shape},
      {"over the envelope limit", std::string(max_envelope_bytes + 1, '\x90'), errc::too_large},
      {"reserved byte 0xc1", "\x9c\x01\xc1", errc::not_msgpack},
  };
  for (const auto& c : cases) {
    auto d = decode(c.bytes);
    ASSERT_FALSE(d) << c.name;
    EXPECT_EQ(d.err().code, c.code) << c.name << ": " << d.err().to_string();
    EXPECT_FALSE(d.err().message.empty()) << c.name;
  }
}

// Builds a full envelope whose field `index` (1-based after the version)
// is replaced by `replacement`.
std::string with_field(std::size_t index, const std::function<void(msgpack::packer<string_sink>&)>& replacement) {
  const auto e = sample();
  std::string out;
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pk.pack_array(12);
  pk.pack_uint32(1);
  std::vector<std::function<void()>> fields = {
      [&] { pk.pack(e.id); },
      [&] { pk.pack(e.source); },
      [&] { pk.pack(e.detail_type); },
      [&] { pk.pack_int64(e.time_ms); },
      [&] { pk.pack(e.resources); },
      [&] { pk.pack(e.origin); },
      [&] { pk.pack_uint64(e.epoch); },
      [&] { pk.pack_uint64(e.seq); },
      [&] { pk.pack(e.correlation_id); },
      [&] { pk.pack(e.causation_id); },
      [&] { out.append(e.detail); },
  };
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (i + 1 == index)
      replacement(pk);
    else
      fields[i]();
  return out;
}

TEST(envelope, wrong_type_in_each_field_is_named) {
  const std::vector<std::pair<std::size_t, std::string>> fields = {
      {1, "id"},   {2, "source"}, {3, "detail-type"}, {4, "time"},  {5, "resources"}, {6, "origin"},
      {7, "epoch"}, {8, "seq"},  {9, "correlation-id"}, {10, "causation-id"}, {11, "detail"}};
  for (const auto& [index, name] : fields) {
    auto bytes = with_field(index, [](auto& pk) { pk.pack(true); });
    auto d = decode(bytes);
    ASSERT_FALSE(d) << name;
    EXPECT_NE(d.err().message.find(name), std::string::npos) << d.err().message;
  }
}

TEST(envelope, negative_seq_and_non_string_resources_are_refused) {
  EXPECT_FALSE(decode(with_field(8, [](auto& pk) { pk.pack_int64(-1); })));
  EXPECT_FALSE(decode(with_field(5, [](auto& pk) {
    pk.pack_array(1);
    pk.pack(1);
  })));
  EXPECT_FALSE(decode(with_field(5, [](auto& pk) {
    pk.pack_array(static_cast<std::uint32_t>(max_resources + 1));
    for (std::size_t i = 0; i <= max_resources; ++i)
      pk.pack(std::string("r"));
  })));
}

TEST(envelope, resources_length_bomb_is_refused_without_allocating) {
  auto d = decode(with_field(5, [](auto& pk) { pk.pack_array(0xffffffffu); }));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.err().code, errc::too_large) << d.err().to_string();
}

TEST(envelope, deeply_nested_detail_is_refused) {
  auto bytes = with_field(11, [](auto& pk) {
    pk.pack_map(1);
    pk.pack(std::string("x"));
    for (int i = 0; i < 100; ++i)
      pk.pack_array(1);
    pk.pack(1);
  });
  auto d = decode(bytes);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.err().code, errc::too_large);
}

TEST(envelope, uuid_is_version_7_unique_and_time_ordered) {
  std::set<std::string> seen;
  std::string previous;
  // Far more than fit one millisecond's counter: order must still hold.
  for (int i = 0; i < 20000; ++i) {
    auto u = make_uuid();
    ASSERT_EQ(u.size(), 36u);
    for (std::size_t c = 0; c < u.size(); ++c)
      if (c == 8 || c == 13 || c == 18 || c == 23)
        ASSERT_EQ(u[c], '-') << u;
      else
        ASSERT_NE(std::string("0123456789abcdef").find(u[c]), std::string::npos) << u;
    EXPECT_EQ(u[14], '7');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
    EXPECT_TRUE(seen.insert(u).second);
    EXPECT_LT(previous, u);
    previous = u;
  }
  const auto ms = std::stoull(previous.substr(0, 8) + previous.substr(9, 4), nullptr, 16);
  EXPECT_NEAR(static_cast<double>(ms), static_cast<double>(now_ms()), 5000.0);
}

TEST(envelope, time_format_is_iso8601_utc) {
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time(1795000000123), "2026-11-18T11:06:40Z");
}

} // namespace
} // namespace troupe::wire
