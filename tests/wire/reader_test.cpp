// The in-place reader against msgpack-c's own unpacker: every integer and
// string encoding reads as msgpack-c reads it, and every cut or wrong byte
// is refused with the offset left where it was.
#include <gtest/gtest.h>

#include <limits>

#include "wire/msgpack_io.hpp"

using namespace troupe;
using namespace troupe::wire;

namespace {

template <class T>
std::string packed(const T& v) {
  std::string out;
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pk.pack(v);
  return out;
}

std::string packed_fixed(std::uint8_t tag, std::uint64_t v, int width) {
  std::string out(1, static_cast<char>(tag));
  for (int i = width - 1; i >= 0; --i)
    out += static_cast<char>(v >> (8 * i));
  return out;
}

} // namespace

TEST(reader, every_integer_encoding_reads_as_msgpack_reads_it) {
  // Each value in the narrowest encoding the packer picks, and in every
  // wider one a peer may use (int 8 holding 5 is a positive integer too).
  const std::vector<std::int64_t> values = {0,     1,      127,     128,    255,      256,       65535, 65536,
                                            -1,    -32,    -33,     -128,   -129,     -32768,    -32769,
                                            INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
  for (auto v : values) {
    std::vector<std::string> encodings = {packed(v)};
    if (v >= 0)
      encodings.push_back(packed_fixed(0xcf, static_cast<std::uint64_t>(v), 8));
    encodings.push_back(packed_fixed(0xd3, static_cast<std::uint64_t>(v), 8));
    if (v >= INT32_MIN && v <= INT32_MAX)
      encodings.push_back(packed_fixed(0xd2, static_cast<std::uint64_t>(v), 4));
    for (const auto& bytes : encodings) {
      const auto oh = msgpack::unpack(bytes.data(), bytes.size());
      reader in(bytes);
      auto got = in.integer("n");
      ASSERT_TRUE(got) << v << ": " << got.err().to_string();
      EXPECT_EQ(*got, v);
      EXPECT_EQ(*got, oh.get().as<std::int64_t>());
      EXPECT_TRUE(in.at_end());
      reader u(bytes);
      auto unsigned_value = u.uint("n");
      EXPECT_EQ(static_cast<bool>(unsigned_value), v >= 0) << v;
      if (v < 0) {
        EXPECT_EQ(unsigned_value.err().code, errc::wrong_shape);
        EXPECT_EQ(u.offset(), 0u) << "a failed read moves nothing";
      }
    }
  }
  // Past int64: a uint, not an integer.
  const auto big = packed(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(*reader(big).uint("n"), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(reader(big).integer("n").err().code, errc::wrong_shape);
}

TEST(reader, strings_of_every_header_size) {
  for (std::size_t n : {0, 1, 31, 32, 255, 256, 65535, 65536}) {
    const auto bytes = packed(std::string(n, 'x'));
    reader in(bytes);
    auto s = in.str("s", 1 << 20);
    ASSERT_TRUE(s) << n;
    EXPECT_EQ(s->size(), n);
    EXPECT_TRUE(in.at_end());
    reader small(bytes);
    if (n > 100) {
      EXPECT_EQ(small.str("s", 100).err().code, errc::too_large) << n;
      EXPECT_EQ(small.offset(), 0u);
    }
  }
}

TEST(reader, every_cut_is_truncated_and_moves_nothing) {
  const std::vector<std::pair<std::string, std::function<bool(reader&)>>> cases = {
      {packed(std::string(300, 'x')), [](reader& r) { return static_cast<bool>(r.str("s", 1000)); }},
      {packed(std::uint64_t{1} << 40), [](reader& r) { return static_cast<bool>(r.uint("n")); }},
      {packed(-(std::int64_t{1} << 40)), [](reader& r) { return static_cast<bool>(r.integer("n")); }},
      {packed(std::vector<int>(20, 1)), [](reader& r) { return static_cast<bool>(r.value(read_limits{}, "v")); }},
      {packed(std::vector<int>(70000, 1)).substr(0, 5),
       [](reader& r) { return static_cast<bool>(r.array("a", 100000)); }},
  };
  for (const auto& [whole, read] : cases) {
    for (std::size_t cut = 0; cut < std::min<std::size_t>(whole.size(), 12); ++cut) {
      const auto part = whole.substr(0, cut);
      reader in(part);
      EXPECT_FALSE(read(in)) << cut;
      EXPECT_EQ(in.offset(), 0u) << cut;
    }
    reader in(whole);
    EXPECT_TRUE(read(in));
  }
}

TEST(reader, wrong_types_and_reserved_bytes_are_named) {
  const auto t = packed(true);
  reader in(t);
  auto s = in.str("source", 10);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.err().code, errc::wrong_shape);
  EXPECT_NE(s.err().message.find("source"), std::string::npos);
  EXPECT_EQ(reader(t).array("a", 10).err().code, errc::wrong_shape);
  EXPECT_EQ(reader(t).integer("n").err().code, errc::wrong_shape);
  const std::string reserved = "\xc1";
  EXPECT_EQ(reader(reserved).str("s", 10).err().code, errc::not_msgpack);
  EXPECT_EQ(reader(reserved).value(read_limits{}, "v").err().code, errc::not_msgpack);
  EXPECT_EQ(reader(std::string()).str("s", 10).err().code, errc::truncated);
}

TEST(reader, a_value_is_walked_within_its_limits) {
  std::string deep;
  for (int i = 0; i < 40; ++i)
    deep += '\x91';
  deep += '\x01';
  EXPECT_EQ(reader(deep).value(read_limits{100, 100, 32}, "v").err().code, errc::too_large);
  EXPECT_TRUE(reader(deep).value(read_limits{100, 100, 41}, "v"));
  const auto wide = packed(std::vector<int>(50, 1));
  EXPECT_EQ(reader(wide).value(read_limits{49, 100, 4}, "v").err().code, errc::too_large);
  const auto two = packed(1) + packed(std::string("x"));
  reader in(two);
  auto first = in.value(read_limits{}, "v");
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, packed(1));
  EXPECT_EQ(*in.str("s", 1), "x");
  // The 6-byte bomb: an array32 claiming 4 G elements allocates nothing.
  EXPECT_EQ(reader(std::string("\xdd\xff\xff\xff\xff\x01", 6)).value(read_limits{}, "v").err().code,
            errc::too_large);
}
