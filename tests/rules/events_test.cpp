// Untrusted event bytes: not a map, truncated, deeply nested, huge claims,
// numbers out of range, invalid UTF-8, random and mutated bytes. The
// matcher must never crash or read outside the buffer (run under ASan to
// check the latter) and must match nothing unless the bytes are one
// well-formed map.
#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "rules/matcher.hpp"
#include "tests/rules/support.hpp"

namespace troupe::rules {
namespace {

using test::mp;

// Rules of every kind, including one that any map without "a" satisfies.
class hostile_events : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* patterns[] = {
        R"({"a":[{"exists":false}]})",                       // 0
        R"({"a":[{"anything-but":"zzz"}]})",                  // 1
        R"({"a":[{"numeric":[">",0]}]})",                     // 2
        R"({"a":[{"prefix":"ab"}]})",                         // 3
        R"({"a":[{"cidr":"10.0.0.0/8"}]})",                   // 4
        R"({"a":[{"wildcard":"*b*"}]})",                      // 5
        R"({"i":{"x":["1"],"y":["2"]}})",                     // 6
        R"({"a":[{"prefix":{"equals-ignore-case":"AB"}}]})",  // 7
        R"({"a":[{"exists":true}]})",                         // 8
        R"({"a":["abc", 5, true, null]})",                    // 9
    };
    for (const char* p : patterns)
      ASSERT_TRUE(m_.add("r", p)) << p;
    m_.compile();
  }

  std::vector<std::size_t> hits(std::string_view bytes) const {
    std::vector<std::size_t> out;
    m_.match_msgpack(bytes, out);
    return out;
  }

  matcher m_;
};

// msgpack-c's own opinion: exactly one map, nothing after it.
bool one_wellformed_map(std::string_view bytes) {
  try {
    std::size_t off = 0;
    msgpack::unpack_limit limit(1u << 20, 1u << 20, 1u << 24, 1u << 24, 1u << 24, 1000);
    auto handle = msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
    return off == bytes.size() && handle.get().type == msgpack::type::MAP;
  } catch (const std::exception&) {
    return false;
  }
}

TEST_F(hostile_events, a_valid_event_matches_as_expected) {
  const std::string ok = test::msgpack_of(R"({"a":"abc","i":[{"x":"1","y":"2"}]})");
  EXPECT_EQ(hits(ok), (std::vector<std::size_t>{1, 3, 5, 6, 7, 8, 9}));
}

TEST_F(hostile_events, not_a_map_matches_nothing) {
  const std::vector<std::string> values = {
      "",  // no bytes at all
      mp().i64(5).bytes,
      mp().str("a").bytes,
      mp().nil().bytes,
      mp().array(1).map(0).bytes,  // an array holding a map
      mp().bin("\x80").bytes,
      std::string("\xC1", 1),  // never-used byte
  };
  for (const auto& v : values)
    EXPECT_TRUE(hits(v).empty()) << "bytes: " << v.size();
  // An empty map is an event without "a": rule 0 holds.
  EXPECT_EQ(hits(mp().map(0).bytes), (std::vector<std::size_t>{0}));
}

TEST_F(hostile_events, every_truncation_and_trailing_bytes_match_nothing) {
  const std::string ok = test::msgpack_of(
      R"({"a":["abc",1.5,"10.1.2.3",null,{"k":[1,2,{"z":"y"}]}],"i":[{"x":"1","y":"2"}],"s":"long string here"})");
  ASSERT_FALSE(hits(ok).empty());
  for (std::size_t n = 0; n < ok.size(); ++n)
    EXPECT_TRUE(hits(std::string_view(ok).substr(0, n)).empty()) << "prefix of " << n << " bytes";
  EXPECT_TRUE(hits(ok + '\x00').empty());
  EXPECT_TRUE(hits(ok + ok).empty());
}

TEST_F(hostile_events, nesting_is_bounded_where_rules_look) {
  auto deep = [](const char* key, std::size_t depth) {
    mp e;
    e.map(1).str(key);
    for (std::size_t k = 0; k < depth; ++k)
      e.array(1);
    e.str("abc");
    return e.bytes;
  };
  // Within the limit, a value deep in arrays under "a" still counts.
  EXPECT_EQ(hits(deep("a", limits::max_event_depth - 2)), (std::vector<std::size_t>{1, 3, 5, 7, 8, 9}));
  // Beyond it: refused by every rule that looks at "a", whatever it holds.
  EXPECT_TRUE(hits(deep("a", limits::max_event_depth + 1)).empty());
  EXPECT_TRUE(hits(deep("a", 100000)).empty());
  // Under a key no rule names, nesting is only stepped over (no recursion).
  EXPECT_EQ(hits(deep("zzz", 100000)), (std::vector<std::size_t>{0}));
  // Maps nest no deeper than the paths rules name; below those (here under
  // i.x, a field) they are stepped over too.
  mp maps;
  maps.map(1).str("i");
  for (int k = 0; k < 100000; ++k)
    maps.map(1).str("x");
  maps.str("1");
  EXPECT_EQ(hits(maps.bytes), (std::vector<std::size_t>{0}));
}

// Found by the matcher fuzz target (fuzz/corpus/matcher/crash-deep-arrays-
// where-other-rules-look, which is the event below nested 117 deep): nesting
// past the limit where some rule looked refused the whole event, so whether
// "a" was absent depended on whether the matcher also held rules on "d".
TEST(event_nesting, past_the_limit_fails_only_the_rules_that_look_there) {
  const auto deep_d = [](std::size_t depth) {
    mp e;
    e.map(1).str("d").array(3).str("\x91");
    for (std::size_t k = 0; k < depth; ++k)
      e.array(1);
    e.i64(99).i64(3);
    return e.bytes;
  };
  const char* absent_a = R"({"$or":[{"a":[{"exists":false}]},{"b":["x"]}]})";
  matcher alone, shared;
  ASSERT_TRUE(alone.add("absent-a", absent_a));
  ASSERT_TRUE(shared.add("absent-a", absent_a));
  ASSERT_TRUE(shared.add("d", R"({"d":[99]})"));
  ASSERT_TRUE(shared.add("under-d", R"({"d":{"x":[{"exists":false}]}})"));
  const auto hits = [](const matcher& m, const std::string& event) {
    std::vector<std::size_t> out;
    m.match_msgpack(event, out);
    return out;
  };
  // Within the limit every rule answers; past it (the arrays at "d" nest
  // 64 deep from 63 on) the rules on "d" fail, and "a" is still absent.
  EXPECT_EQ(hits(alone, deep_d(2)), (std::vector<std::size_t>{0}));
  EXPECT_EQ(hits(shared, deep_d(2)), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(hits(shared, deep_d(62)), (std::vector<std::size_t>{0, 1, 2}));
  for (std::size_t depth : {std::size_t{63}, std::size_t{117}, std::size_t{100000}}) {
    EXPECT_EQ(hits(alone, deep_d(depth)), (std::vector<std::size_t>{0})) << depth;
    EXPECT_EQ(hits(shared, deep_d(depth)), (std::vector<std::size_t>{0})) << depth;
  }
  // Bytes cut short past the limit are still malformed: nothing matches.
  const auto cut = deep_d(117).substr(0, 100);
  EXPECT_TRUE(hits(alone, cut).empty());
  EXPECT_TRUE(hits(shared, cut).empty());
}

TEST_F(hostile_events, huge_claims_are_refused_at_once) {
  const std::vector<std::string> claims = {
      mp().map(1).str("a").raw({0xDD, 0xFF, 0xFF, 0xFF, 0xFF}).bytes,          // array32 of 4G
      mp().map(1).str("zzz").raw({0xDD, 0xFF, 0xFF, 0xFF, 0xFF}).bytes,        // ... where nobody looks
      mp().raw({0xDF, 0xFF, 0xFF, 0xFF, 0xFF}).bytes,                          // map32 of 4G pairs
      mp().map(1).str("a").raw({0xDB, 0xFF, 0xFF, 0xFF, 0xF0}).str("x").bytes,  // str32 of 4G
      mp().map(1).str("a").raw({0xC6, 0x7F, 0xFF, 0xFF, 0xFF}).bytes,          // bin32
      mp().map(1).str("a").raw({0xC9, 0x7F, 0xFF, 0xFF, 0xFF, 0x01}).bytes,    // ext32
      mp().map(1).str("zzz").raw({0xDF, 0x10, 0x00, 0x00, 0x00}).map(0).bytes,  // map32 stepped over
  };
  for (const auto& c : claims)
    EXPECT_TRUE(hits(c).empty());
}

TEST_F(hostile_events, big_arrays_up_to_the_limit) {
  auto array_of = [](std::uint32_t n) {
    mp e;
    e.map(1).str("a").array(n);
    for (std::uint32_t k = 0; k + 1 < n; ++k)
      e.i64(0);
    e.i64(7);
    return e.bytes;
  };
  EXPECT_EQ(hits(array_of(static_cast<std::uint32_t>(limits::max_event_array))),
            (std::vector<std::size_t>{1, 2, 8}));
  EXPECT_TRUE(hits(array_of(static_cast<std::uint32_t>(limits::max_event_array) + 1)).empty());
}

TEST_F(hostile_events, numbers_out_of_range) {
  auto with_a = [](mp value) { return mp().map(1).str("a").bytes + value.bytes; };
  const double inf = std::numeric_limits<double>::infinity();
  // NaN and infinities are values but not numbers.
  EXPECT_EQ(hits(with_a(mp().f64(std::nan("")))), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(hits(with_a(mp().f64(inf))), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(hits(with_a(mp().f64(-inf))), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(hits(with_a(mp().f32(1.5f))), (std::vector<std::size_t>{1, 2, 8}));
  EXPECT_EQ(hits(with_a(mp().u64(18446744073709551615u))), (std::vector<std::size_t>{1, 2, 8}));
  EXPECT_EQ(hits(with_a(mp().i64(std::numeric_limits<std::int64_t>::min()))), (std::vector<std::size_t>{1, 8}));
  // Decimal ext values: numbers when their text is one, opaque otherwise.
  EXPECT_EQ(hits(with_a(mp().ext(decimal_ext_type, "1e400"))), (std::vector<std::size_t>{1, 2, 8}));
  EXPECT_EQ(hits(with_a(mp().ext(decimal_ext_type, "-1e400"))), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(hits(with_a(mp().ext(decimal_ext_type, "5.0000"))), (std::vector<std::size_t>{1, 2, 8, 9}));
  EXPECT_EQ(hits(with_a(mp().ext(decimal_ext_type, "1e999999999"))), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(hits(with_a(mp().ext(decimal_ext_type, "abc"))), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(hits(with_a(mp().ext(decimal_ext_type, ""))), (std::vector<std::size_t>{1, 8}));
  EXPECT_EQ(hits(with_a(mp().ext(42, "5"))), (std::vector<std::size_t>{1, 8}));
}

TEST_F(hostile_events, odd_but_valid_values) {
  auto with_a = [](mp value) { return mp().map(1).str("a").bytes + value.bytes; };
  // Bytes that are not UTF-8 compare as bytes; folding keeps them.
  EXPECT_EQ(hits(with_a(mp().str("AB\xFF"))), (std::vector<std::size_t>{1, 7, 8}));
  EXPECT_EQ(hits(with_a(mp().str("ab\xC3"))), (std::vector<std::size_t>{1, 3, 5, 7, 8}));
  // Binary is a value, but never a string.
  EXPECT_EQ(hits(with_a(mp().bin("abc"))), (std::vector<std::size_t>{1, 8}));
  // Keys that are not strings name nothing; their values are stepped over.
  EXPECT_EQ(hits(mp().map(2).i64(1).str("abc").str("a").str("abc").bytes),
            (std::vector<std::size_t>{1, 3, 5, 7, 8, 9}));
  EXPECT_EQ(hits(mp().map(1).array(1).str("a").str("abc").bytes), (std::vector<std::size_t>{0}));
  // Duplicate keys: every copy counts.
  EXPECT_EQ(hits(mp().map(2).str("a").str("zzz").str("a").i64(5).bytes), (std::vector<std::size_t>{1, 2, 8, 9}));
}

TEST_F(hostile_events, array_consistency_search_is_bounded) {
  // Rule 6 needs x and y in one element of i. A match exists in the first
  // element, but finding it would mean looking at more candidate elements
  // than limits::max_consistency_steps: by the documented limit, no match.
  auto event = [](std::uint32_t n) {
    mp e;
    e.map(1).str("i").array(n + 1).map(2).str("x").str("1").str("y").str("2");
    for (std::uint32_t k = 0; k < n; ++k)
      e.map(1).str("x").str("1");
    return e.bytes;
  };
  EXPECT_EQ(hits(event(1000)), (std::vector<std::size_t>{0, 6}));
  EXPECT_EQ(hits(event(static_cast<std::uint32_t>(limits::max_consistency_steps))), (std::vector<std::size_t>{0}));
}

TEST_F(hostile_events, random_bytes_match_only_wellformed_maps) {
  std::mt19937_64 rng(20261129);
  std::vector<std::size_t> out;
  int matched = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string bytes(rng() % 48, '\0');
    for (auto& b : bytes)
      b = static_cast<char>(rng());
    if (!bytes.empty() && rng() % 2)
      bytes[0] = static_cast<char>(0x80 | (rng() % 16));  // often a fixmap, to get further in
    out.clear();
    m_.match_msgpack(bytes, out);
    if (!out.empty()) {
      ++matched;
      ASSERT_TRUE(one_wellformed_map(bytes)) << "matched malformed bytes, round " << round;
    }
  }
  EXPECT_GT(matched, 0);  // some random maps are valid and match rule 0
}

TEST_F(hostile_events, mutated_events_match_only_wellformed_maps) {
  const std::string seed = test::msgpack_of(
      R"({"a":["abc",-7,2.5,"10.9.9.9",true,null,"xbx"],"i":[{"x":"1","y":"2"},{"x":["1"],"y":[["2"]]}],"n":{"m":{"a":1}}})");
  std::mt19937_64 rng(7);
  std::vector<std::size_t> out;
  for (int round = 0; round < 100000; ++round) {
    std::string bytes = seed;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % bytes.size();
      switch (rng() % 4) {
        case 0: bytes[at] = static_cast<char>(rng()); break;
        case 1: bytes[at] ^= static_cast<char>(1u << (rng() % 8)); break;
        case 2: bytes.erase(at, 1 + rng() % 4); break;
        default: bytes.insert(at, 1, static_cast<char>(rng())); break;
      }
      if (bytes.empty())
        bytes = "\x80";
    }
    out.clear();
    m_.match_msgpack(bytes, out);
    if (!out.empty()) {
      ASSERT_TRUE(one_wellformed_map(bytes)) << "matched malformed bytes, round " << round;
    }
    ASSERT_TRUE(std::is_sorted(out.begin(), out.end()));
    ASSERT_TRUE(std::adjacent_find(out.begin(), out.end()) == out.end());
  }
}

} // namespace
} // namespace troupe::rules
