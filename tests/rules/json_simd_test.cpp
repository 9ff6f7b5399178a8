// The fast JSON to MessagePack path (simdjson) against the reference reader:
// on every input both give the same bytes, or both refuse. Hand-picked edge
// cases, every event and pattern of the conformance files, random documents
// built to stress numbers, strings, duplicates and nesting, and those
// documents mutated byte by byte. The fast path must also take every valid
// object and array itself (a silent fallback would only show as slowness).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "rules/json.hpp"
#include "rules/matcher.hpp"
#include "tests/rules/support.hpp"

namespace troupe::rules {
namespace {

using test::hex;

// Whether the document's first non-space byte opens an object or an array.
bool container(std::string_view json) {
  for (char c : json) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      continue;
    return c == '{' || c == '[';
  }
  return false;
}

// Compares the two paths on `json`; an empty string when they agree, else
// what differs.
std::string differ(std::string_view json) {
  std::string why;
  const auto reference = detail::json_to_msgpack_reference(json, &why);
  std::string fast;
  const bool fast_ok = detail::json_to_msgpack_fast(json, fast);
  if (fast_ok && !reference)
    return "fast path took what the reference refuses (" + why + ")";
  if (fast_ok && *reference != fast)
    return "bytes differ: reference " + hex(*reference) + ", fast " + hex(fast);
  if (!fast_ok && reference && container(json))
    return "fast path refused a valid document";
  if (!fast_ok && !fast.empty())
    return "fast path left output behind on refusal";
  // The public entry point answers as the reference does.
  std::string public_why;
  const auto pub = json_to_msgpack(json, &public_why);
  if (pub.has_value() != reference.has_value() || (pub && *pub != *reference))
    return "json_to_msgpack differs from the reference";
  if (!pub && public_why != why)
    return "error differs: " + public_why + " / " + why;
  return "";
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char b[5];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out.size() > 300 ? out.substr(0, 300) + "..." : out;
}

#define EXPECT_AGREE(json)                                       \
  do {                                                           \
    const std::string j_ = (json);                               \
    const std::string d_ = differ(j_);                           \
    EXPECT_EQ(d_, "") << "input: " << printable(j_);             \
  } while (0)

TEST(json_fast, edge_cases) {
  const char* cases[] = {
      // valid
      "{}", "[]", " { } ", "\n[\r\t]\n", R"({"a":1})", R"({"a":1,"a":2,"a":[3]})", R"([0,-0,1,-1,0.5,-0.0,5.0])",
      R"([9223372036854775807,9223372036854775808,-9223372036854775808,-9223372036854775809])",
      R"([18446744073709551615,18446744073709551616,1e400,-1e400,5e-324,1e-400])",
      R"([0.1000000000000000055511151231257827021181583404541015625,120.50,3.0e2,1E2,1e+2,1e-2,0e0,-0E-0])",
      R"(["\u0000","\ud83d\ude00","\u00e9","é","\"\\\/\b\f\n\r\t","\u20AC"])", R"({"":"","\u0061":"b"})",
      R"([true,false,null,[],{},[[]],[{}]])", R"({"k" : [ 1 , 2 ] , "l" : { "m" : null } })",
      "[\"\xf0\x9f\x98\x80\",\"\xe2\x82\xac\",\"\xc3\xa9\"]",
      // invalid
      "", " ", "{", "}", "[", "]", "[1,]", "[,1]", "{\"a\":1,}", "{,}", "[1 2]", "{\"a\" 1}", "{a:1}", "{\"a\":}",
      "[01]", "[-]", "[-01]", "[1.]", "[.5]", "[1e]", "[1e+]", "[+1]", "[1.5e5.5]", "[0x10]", "[NaN]", "[Infinity]",
      "[-Infinity]", "[1]x", "[1]]", "{\"a\":1}}", "[1] [2]", "[tru]", "[truex]", "[nul]", "[nulll]", "[True]",
      "[\"\\x\"]", "[\"\\u12\"]", "[\"\\u12G4\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]",
      "[\"\\ud800\\\\\"]", "[\"a\x01\"]", "[\"a\x7f\"]", "[\"\xff\"]", "[\"\xc0\x80\"]", "[\"\xed\xa0\x80\"]",
      "[\"\xf4\x90\x80\x80\"]", "[\"\xe2\x82\"]", "[\"unterminated]", "{\"a\":1 \"b\":2}", "[1\v]", "[1\f]",
      "\xef\xbb\xbf{}", "[\"a\"\"b\"]", "{\"a\":1:2}", "[{]}", "[[]]]", "{\"a\"}", "{1:2}", "[1,,2]",
      // scalars: the reference takes them
      "1", "\"s\"", "true", "null", " -1.5e3 ", "01", "\"\\ud800\"",
  };
  for (const char* c : cases)
    EXPECT_AGREE(c);
  // Embedded NUL bytes, outside and inside strings.
  EXPECT_AGREE(std::string("[1,\0 2]", 7));
  EXPECT_AGREE(std::string("[\"a\0b\"]", 7));
  EXPECT_AGREE(std::string("{}\0", 3));
}

TEST(json_fast, nesting_at_and_past_the_limit) {
  for (std::size_t depth : {1u, 255u, 256u, 257u, 1100u, 100000u}) {
    EXPECT_AGREE(std::string(depth, '[') + std::string(depth, ']'));
    std::string objects;
    for (std::size_t i = 0; i < depth; ++i)
      objects += "{\"a\":";
    objects += "1" + std::string(depth, '}');
    EXPECT_AGREE(objects);
  }
}

TEST(json_fast, container_and_string_sizes_at_each_header_width) {
  for (std::size_t n : {0u, 15u, 16u, 65535u, 65536u, 70000u}) {
    std::string array = "[";
    std::string object = "{";
    for (std::size_t i = 0; i < n; ++i) {
      array += i ? ",1" : "1";
      object += (i ? ",\"k" : "\"k") + std::to_string(i % 7) + "\":null";
    }
    EXPECT_AGREE(array + "]");
    EXPECT_AGREE(object + "}");
  }
  for (std::size_t n : {31u, 32u, 255u, 256u, 65535u, 65536u, 70000u}) {
    EXPECT_AGREE("[\"" + std::string(n, 'x') + "\"]");
    EXPECT_AGREE("{\"" + std::string(n, 'k') + "\":1}");
    EXPECT_AGREE("[\"" + std::string(n / 2, 'x') + "\\n" + std::string(n - n / 2, 'y') + "\"]");
  }
  // Past the parser a thread keeps (64 KiB), and the next small one after it.
  EXPECT_AGREE("[\"" + std::string(200000, 'z') + "\",1.5]");
  EXPECT_AGREE("{\"small\":1}");
}

TEST(json_fast, conformance_events_and_patterns) {
  const auto dir = test::conformance_dir();
  ASSERT_FALSE(dir.empty()) << "TROUPE_CONFORMANCE_DIR is not set";
  std::size_t compared = 0;
  for (const char* file : {"patterns.jsonl", "quirks.jsonl"}) {
    std::ifstream in(dir + "/" + file);
    ASSERT_TRUE(in) << dir << "/" << file;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty())
        continue;
      EXPECT_AGREE(line);
      ++compared;
    }
    std::vector<test::conformance_case> cases;
    std::string why;
    ASSERT_TRUE(test::load_cases(dir + "/" + file, cases, why)) << why;
    for (const auto& c : cases) {
      EXPECT_AGREE(c.event);
      EXPECT_AGREE(c.pattern);
      compared += 2;
    }
  }
  EXPECT_GT(compared, 1000u);
}

// Numbers: the fast writer decides float64 or decimal text without the
// reference's allocations; every spelling must come out the same.
TEST(json_fast, numbers_in_every_spelling) {
  std::vector<std::string> texts = {
      "0.0", "-0.0", "0e0", "0E+0", "0.000e-5", "1.0", "1.5", "-1.5", "0.1", "0.10", "0.100000000000000005551115123125783",
      "0.1000000000000000055511151231257827021181583404541015625", "1e22", "1e23", "1E+23", "1e-7", "123e-2",
      "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "2.2250738585072014e-308",
      "2.2250738585072011e-308", "4.9406564584124654e-324", "5e-324", "2e-324", "3e-324", "1e-400", "1e400",
      "-1e400", "1e99999", "1e100000", "1e100001", "0e100001", "0.0e-99999", "1e-99999", "1e-100001",
      "9007199254740992.0", "9007199254740993.0", "9007199254740993", "18446744073709551616", "18446744073709551615",
      "-9223372036854775808", "-9223372036854775809", "100000000000000000000000", "1000000000000000000000000.0",
      "00", "-", "1.", ".1", "1e", "0.30000000000000004", "0.3000000000000000444089209850062616169452667236328125",
      "123456789012345678", "1234567890123456789012345678901234567890.5", "1.00000000000000000000000000000000000001",
      "12345678901234567890123456789012345678901234567890e-40", "0.000000000000000000000000000000000000000001",
  };
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    double d;
    const std::uint64_t bits = rng();
    std::memcpy(&d, &bits, sizeof d);
    if (!std::isfinite(d))
      continue;
    char buf[64];
    for (int precision : {1, 6, 15, 16, 17, 18, 25}) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, d);
      texts.emplace_back(buf);
    }
    std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(static_cast<std::int64_t>(rng() % 2000001) - 1000000) / 7);
    texts.emplace_back(buf);
    // Around 2^53, where to_chars turns to exact integer digits, and the
    // magnitudes of coordinates.
    const double scale = std::pow(10.0, static_cast<double>(rng() % 8) + 12);
    const double near = scale * (1 + static_cast<double>(rng() % 1000000) / 1e5);
    const double coordinate = static_cast<double>(static_cast<std::int64_t>(rng() % 360000000) - 180000000) / 1e6 +
                              static_cast<double>(rng() % 1000000) / 1e17;
    for (double v : {near, coordinate}) {
      for (int precision : {15, 16, 17, 18, 19, 21}) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        texts.emplace_back(buf);
        std::snprintf(buf, sizeof buf, "%.*f", precision - 3, v);
        texts.emplace_back(buf);
      }
    }
  }
  // Powers of two, where the interval below a double is half the one
  // above, and their neighbours.
  for (int k = -80; k <= 60; ++k) {
    const double power = std::ldexp(1.0, k);
    for (double v : {power, std::nextafter(power, 0.0), std::nextafter(power, HUGE_VAL)}) {
      char buf[64];
      for (int precision : {15, 16, 17, 18}) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        texts.emplace_back(buf);
      }
    }
  }
  for (const auto& t : texts)
    EXPECT_AGREE("[" + t + "]");
}

// Random documents: numbers in every spelling, strings with escapes and
// multi-byte characters, duplicate keys, whitespace everywhere.
class generator {
 public:
  explicit generator(std::uint32_t seed) : rng_(seed) {}

  std::string document() {
    std::string out;
    if (pick(2))
      object(out, 0);
    else
      array(out, 0);
    return out;
  }

  std::mt19937& rng() { return rng_; }
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

 private:
  void space(std::string& out) {
    static const char* spaces[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    out += spaces[pick(7)];
  }

  void value(std::string& out, int depth) {
    space(out);
    const std::size_t k = depth > 5 ? 4 + pick(4) : pick(8);
    switch (k) {
      case 0: case 1: object(out, depth + 1); break;
      case 2: case 3: array(out, depth + 1); break;
      case 4: number(out); break;
      case 5: case 6: string(out); break;
      default: {
        static const char* literals[] = {"true", "false", "null"};
        out += literals[pick(3)];
      }
    }
    space(out);
  }

  void object(std::string& out, int depth) {
    out += '{';
    const std::size_t n = pick(6);
    for (std::size_t i = 0; i < n; ++i) {
      if (i)
        out += ',';
      space(out);
      if (pick(4) == 0)
        out += "\"dup\"";  // the same key again, in place
      else
        string(out);
      space(out);
      out += ':';
      value(out, depth);
    }
    space(out);
    out += '}';
  }

  void array(std::string& out, int depth) {
    out += '[';
    const std::size_t n = pick(6);
    for (std::size_t i = 0; i < n; ++i) {
      if (i)
        out += ',';
      value(out, depth);
    }
    space(out);
    out += ']';
  }

  void number(std::string& out) {
    static const char* fixed[] = {"0", "-0", "0.0", "-0.0", "1e400", "5e-324", "2.2250738585072014e-308",
                                  "9007199254740993", "18446744073709551616", "-9223372036854775809",
                                  "0.1", "0.10", "1E+2", "1e-2", "123456789012345678901234567890"};
    if (pick(3) == 0) {
      out += fixed[pick(sizeof fixed / sizeof *fixed)];
      return;
    }
    if (pick(4) == 0)
      out += '-';
    out += std::to_string(pick(2) ? pick(10) : rng_());
    if (pick(2)) {
      out += '.';
      const std::size_t digits = 1 + pick(20);
      for (std::size_t i = 0; i < digits; ++i)
        out += static_cast<char>('0' + pick(10));
    }
    if (pick(3) == 0) {
      out += "eE"[pick(2)];
      const std::size_t sign = pick(3);
      if (sign)
        out += "+-"[sign - 1];
      out += std::to_string(pick(400));
    }
  }

  void string(std::string& out) {
    static const char* pieces[] = {"a", "key", "Z", " ", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t",
                                   "\\u0000", "\\u001f", "\\u00e9", "\\u20ac", "\\ud83d\\ude00", "\\uDBFF\\uDFFF",
                                   "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "0123456789abcdef"};
    out += '"';
    const std::size_t n = pick(3) == 0 ? pick(40) : pick(6);
    for (std::size_t i = 0; i < n; ++i)
      out += pieces[pick(sizeof pieces / sizeof *pieces)];
    out += '"';
  }

  std::mt19937 rng_;
};

TEST(json_fast, random_documents) {
  generator g(20261207);
  for (int i = 0; i < 20000; ++i) {
    const auto doc = g.document();
    const auto d = differ(doc);
    ASSERT_EQ(d, "") << "document " << i << ": " << printable(doc);
  }
}

// Valid documents broken one or a few bytes at a time: where a fast parser
// is most likely to take what it should refuse.
TEST(json_fast, mutated_documents) {
  generator g(7);
  static const char interesting[] = {'{', '}', '[', ']', ',', ':', '"', '\\', '-', '+', '.', 'e', '0', '1', ' ',
                                     '\n', 't', 'n', 'u', 'x', '\0', '\x01', '\x7f', '\x80', '\xc3', '\xed', '\xff'};
  std::size_t refused = 0, mutants = 0;
  for (int i = 0; i < 4000; ++i) {
    const auto doc = g.document();
    for (int m = 0; m < 10; ++m) {
      std::string mutant = doc;
      const std::size_t edits = 1 + g.pick(3);
      for (std::size_t e = 0; e < edits && !mutant.empty(); ++e) {
        const std::size_t at = g.pick(mutant.size());
        switch (g.pick(4)) {
          case 0: mutant[at] = interesting[g.pick(sizeof interesting)]; break;
          case 1: mutant.erase(at, 1); break;
          case 2: mutant.insert(at, 1, interesting[g.pick(sizeof interesting)]); break;
          default: mutant.insert(at, mutant.substr(g.pick(mutant.size()), 1 + g.pick(8))); break;
        }
      }
      ++mutants;
      std::string why;
      if (!detail::json_to_msgpack_reference(mutant, &why))
        ++refused;
      const auto d = differ(mutant);
      ASSERT_EQ(d, "") << "mutant of document " << i << ": " << printable(mutant);
    }
  }
  // Most mutants are invalid, and some still valid: both sides were tried.
  EXPECT_GT(refused, mutants / 2);
  EXPECT_LT(refused, mutants);
}

} // namespace
} // namespace troupe::rules
