// The detail decoder the services see: it must read every MessagePack value
// exactly as nlohmann::json::from_msgpack did before it, and refuse what
// that refused.
#include <gtest/gtest.h>

#include <random>

#include "actors/msgpack_json.hpp"

namespace troupe {
namespace {

using json = nlohmann::json;

std::string packed(const json& j) {
  std::string out;
  json::to_msgpack(j, out);
  return out;
}

// A random JSON value: every scalar kind MessagePack has an encoding for,
// with the edges of each integer width, nested up to `depth`.
json random_value(std::mt19937_64& rng, int depth) {
  static const std::int64_t edges[] = {0,      1,           127,         128,         255,
                                       256,    65535,       65536,       4294967295LL, 4294967296LL,
                                       -1,     -32,         -33,         -128,        -129,
                                       -32768, -32769,      -2147483648LL, -2147483649LL, INT64_MIN};
  switch (rng() % (depth > 0 ? 9 : 7)) {
    case 0: return nullptr;
    case 1: return rng() % 2 == 0;
    case 2: return edges[rng() % std::size(edges)];
    case 3: return static_cast<std::uint64_t>(rng());
    case 4: return std::uniform_real_distribution<double>(-1e9, 1e9)(rng);
    case 5: return std::string(rng() % 300, static_cast<char>('a' + rng() % 26));
    case 6: return json::binary({1, 2, 3, static_cast<std::uint8_t>(rng())});
    case 7: {
      auto a = json::array();
      for (int i = 0, n = static_cast<int>(rng() % 6); i < n; ++i)
        a.push_back(random_value(rng, depth - 1));
      return a;
    }
    default: {
      auto o = json::object();
      for (int i = 0, n = static_cast<int>(rng() % 6); i < n; ++i)
        o["k" + std::to_string(rng() % 10)] = random_value(rng, depth - 1);
      return o;
    }
  }
}

TEST(MsgpackJson, ReadsWhatFromMsgpackReads) {
  std::mt19937_64 rng(20261129);
  for (int i = 0; i < 2000; ++i) {
    auto original = json::object();
    for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n; ++k)
      original["field" + std::to_string(k)] = random_value(rng, 4);
    const auto bytes = packed(original);
    const auto ours = json_from_msgpack(bytes);
    ASSERT_EQ(ours, json::from_msgpack(bytes)) << original.dump();
    ASSERT_EQ(ours.dump(), original.dump());
  }
}

TEST(MsgpackJson, SignedEncodingsOfNonNegativeNumbersKeepTheirValue) {
  // int8 5, int16 300, int32 70000, int64 2^40: other encoders than
  // nlohmann's use signed types for positive numbers.
  const std::vector<unsigned char> raw = {0x84, 0xa1, 'a', 0xd0, 0x05,                    // int8
                                         0xa1, 'b', 0xd1, 0x01, 0x2c,                     // int16
                                         0xa1, 'c', 0xd2, 0x00, 0x01, 0x11, 0x70,         // int32
                                         0xa1, 'd', 0xd3, 0, 0, 1, 0, 0, 0, 0, 0};        // int64
  const std::string bytes(raw.begin(), raw.end());
  const auto j = json_from_msgpack(bytes);
  EXPECT_EQ(j, json::from_msgpack(bytes));
  EXPECT_EQ(j["a"].get<std::int64_t>(), 5);
  EXPECT_EQ(j["b"].get<std::int64_t>(), 300);
  EXPECT_EQ(j["c"].get<std::int64_t>(), 70000);
  EXPECT_EQ(j["d"].get<std::int64_t>(), 1LL << 40);
}

TEST(MsgpackJson, ExtBecomesBinaryWithItsType) {
  // fixext 2, type 7, bytes 0xbe 0xef
  const std::string bytes("\x81\xa1x\xd5\x07\xbe\xef", 7);
  const auto j = json_from_msgpack(bytes);
  EXPECT_EQ(j, json::from_msgpack(bytes));
  ASSERT_TRUE(j["x"].is_binary());
  EXPECT_EQ(j["x"].get_binary().subtype(), 7);
  EXPECT_EQ(j["x"].get_binary(), (std::vector<std::uint8_t>{0xbe, 0xef}));
}

TEST(MsgpackJson, ARepeatedKeyKeepsItsLastValue) {
  const std::string bytes("\x82\xa1k\x01\xa1k\x02", 7);
  EXPECT_EQ(json_from_msgpack(bytes), json::from_msgpack(bytes));
  EXPECT_EQ(json_from_msgpack(bytes)["k"], 2);
}

TEST(MsgpackJson, InvalidUtf8IsKeptAsBytes) {
  const std::string bytes("\x81\xa1s\xa2\xff\xfe", 6);
  const auto j = json_from_msgpack(bytes);
  EXPECT_EQ(j, json::from_msgpack(bytes));
  EXPECT_EQ(j["s"].get<std::string>(), std::string("\xff\xfe"));
}

TEST(MsgpackJson, RefusesWhatFromMsgpackRefuses) {
  const std::vector<std::string> bad = {
      std::string(""),                       // nothing
      std::string("\x81\xa1k", 3),           // truncated: a key without its value
      std::string("\x81\x01\x02", 3),        // a map key that is not a string
      std::string("\x80\x80", 2),            // a second value after the first
      std::string("\xc1", 1),                // never used
  };
  for (const auto& b : bad) {
    EXPECT_ANY_THROW(json::from_msgpack(b)) << testing::PrintToString(b);
    EXPECT_ANY_THROW(json_from_msgpack(b)) << testing::PrintToString(b);
  }
}

TEST(MsgpackJson, RefusesWhatTheWireRefuses) {
  // An array header claiming four billion elements in five bytes.
  EXPECT_ANY_THROW(json_from_msgpack(std::string("\xdd\xff\xff\xff\xff", 5)));
  // Nested deeper than a detail may be.
  json deep = 1;
  for (int i = 0; i < 40; ++i)
    deep = json::array({deep});
  EXPECT_ANY_THROW(json_from_msgpack(packed(deep)));
}

} // namespace
} // namespace troupe
