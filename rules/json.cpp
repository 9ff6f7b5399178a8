#include "rules/json.hpp"

#include <msgpack.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "rules/matcher.hpp"
#include "rules/numbers.hpp"

namespace troupe::rules {

namespace detail {

const json_value* json_value::member(std::string_view name) const {
  const json_value* found = nullptr;
  for (const auto& m : items)
    if (m.key == name)
      found = &m;
  return found;
}

const char* describe(json_value::kind k) {
  switch (k) {
    case json_value::kind::null: return "null";
    case json_value::kind::boolean: return "a boolean";
    case json_value::kind::number: return "a number";
    case json_value::kind::string: return "a string";
    case json_value::kind::array: return "an array";
    case json_value::kind::object: return "an object";
  }
  return "a value";
}

namespace {

class parser {
 public:
  parser(std::string_view s, std::size_t max_depth) : s_(s), max_depth_(max_depth) {}

  bool document(json_value& out) {
    skip_ws();
    if (!value(out, 0))
      return false;
    skip_ws();
    if (i_ != s_.size())
      return fail("unexpected text after the JSON value");
    return true;
  }

  std::string error;

 private:
  bool fail(const std::string& message) {
    if (!error.empty())
      return false;
    std::size_t line = 1, column = 1;
    for (std::size_t k = 0; k < i_ && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    error = "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
    return false;
  }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }

  bool value(json_value& v, std::size_t depth) {
    if (i_ >= s_.size())
      return fail("unexpected end of input");
    v.begin = i_;
    bool ok;
    switch (s_[i_]) {
      case '{': ok = object(v, depth); break;
      case '[': ok = array(v, depth); break;
      case '"':
        v.type = json_value::kind::string;
        ok = string(v.text);
        break;
      case 't': ok = literal("true", v, json_value::kind::boolean, true); break;
      case 'f': ok = literal("false", v, json_value::kind::boolean, false); break;
      case 'n': ok = literal("null", v, json_value::kind::null, false); break;
      default:
        if (s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9'))
          ok = number(v);
        else
          ok = fail(std::string("unexpected character '") + s_[i_] + "'");
    }
    v.end = i_;
    return ok;
  }

  bool literal(std::string_view word, json_value& v, json_value::kind k, bool b) {
    if (s_.substr(i_, word.size()) != word)
      return fail("invalid literal");
    i_ += word.size();
    v.type = k;
    v.boolean = b;
    return true;
  }

  bool object(json_value& v, std::size_t depth) {
    if (depth >= max_depth_)
      return fail("nested deeper than " + std::to_string(max_depth_) + " levels");
    v.type = json_value::kind::object;
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"')
        return fail("expected a member name in double quotes");
      json_value member;
      if (!string(member.key))
        return false;
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':')
        return fail("expected ':' after a member name");
      ++i_;
      skip_ws();
      if (!value(member, depth + 1))
        return false;
      v.items.push_back(std::move(member));
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return true;
      }
      return fail("expected ',' or '}' in an object");
    }
  }

  bool array(json_value& v, std::size_t depth) {
    if (depth >= max_depth_)
      return fail("nested deeper than " + std::to_string(max_depth_) + " levels");
    v.type = json_value::kind::array;
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      json_value item;
      if (!value(item, depth + 1))
        return false;
      v.items.push_back(std::move(item));
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return true;
      }
      return fail("expected ',' or ']' in an array");
    }
  }

  bool hex4(unsigned& out) {
    if (s_.size() - i_ < 4)
      return fail("truncated \\u escape");
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = s_[i_++];
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        out |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        out |= static_cast<unsigned>(c - 'A' + 10);
      else
        return fail("invalid \\u escape");
    }
    return true;
  }

  static void put_utf8(unsigned cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Length of the well-formed UTF-8 sequence at i_, or 0.
  std::size_t utf8_length() const {
    const auto b0 = static_cast<unsigned char>(s_[i_]);
    std::size_t n;
    unsigned cp, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      n = 2, cp = b0 & 0x1Fu, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      n = 3, cp = b0 & 0x0Fu, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      n = 4, cp = b0 & 0x07u, min = 0x10000;
    } else {
      return 0;
    }
    if (s_.size() - i_ < n)
      return 0;
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s_[i_ + k]);
      if ((b & 0xC0) != 0x80)
        return 0;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    return n;
  }

  bool string(std::string& out) {
    ++i_;  // opening quote
    for (;;) {
      const std::size_t run = i_;
      while (i_ < s_.size()) {
        const auto c = static_cast<unsigned char>(s_[i_]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
          break;
        ++i_;
      }
      out.append(s_.data() + run, i_ - run);
      if (i_ >= s_.size())
        return fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20)
        return fail("control character in a string (escape it)");
      if (c >= 0x80) {
        const std::size_t n = utf8_length();
        if (n == 0)
          return fail("invalid UTF-8 in a string");
        out.append(s_.data() + i_, n);
        i_ += n;
        continue;
      }
      // backslash
      if (++i_ >= s_.size())
        return fail("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp))
            return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail("lone low surrogate in a \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned low = 0;
            if (s_.substr(i_, 2) != "\\u")
              return fail("lone high surrogate in a \\u escape");
            i_ += 2;
            if (!hex4(low))
              return false;
            if (low < 0xDC00 || low > 0xDFFF)
              return fail("lone high surrogate in a \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          put_utf8(cp, out);
          break;
        }
        default:
          return fail(std::string("invalid escape '\\") + e + "'");
      }
    }
  }

  bool number(json_value& v) {
    const std::size_t start = i_;
    auto digits = [&] {
      const std::size_t from = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
        ++i_;
      return i_ - from;
    };
    if (s_[i_] == '-')
      ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (digits() == 0) {
      return fail("invalid number");
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (digits() == 0)
        return fail("invalid number: digits must follow '.'");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-'))
        ++i_;
      if (digits() == 0)
        return fail("invalid number: digits must follow the exponent");
    }
    v.type = json_value::kind::number;
    v.text.assign(s_.data() + start, i_ - start);
    return true;
  }

  std::string_view s_;
  std::size_t max_depth_;
  std::size_t i_ = 0;
};

struct string_sink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

// Written by hand: msgpack-c's pack_double turns integral doubles into ints
// (5.0 would arrive as 5, -0.0 as 0), and floats stay floats here.
void write_double(string_sink& sink, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char buf[9];
  buf[0] = static_cast<char>(0xCB);
  for (int k = 0; k < 8; ++k)
    buf[1 + k] = static_cast<char>(bits >> (56 - 8 * k));
  sink.write(buf, sizeof buf);
}

void pack_number(msgpack::packer<string_sink>& pk, string_sink& sink, std::string_view text) {
  const bool integer_syntax = text.find_first_of(".eE") == std::string::npos;
  if (integer_syntax) {
    const char* end = text.data() + text.size();
    std::int64_t i = 0;
    auto r = std::from_chars(text.data(), end, i);
    if (r.ec == std::errc() && r.ptr == end) {
      pk.pack_int64(i);
      return;
    }
    std::uint64_t u = 0;
    r = std::from_chars(text.data(), end, u);
    if (r.ec == std::errc() && r.ptr == end) {
      pk.pack_uint64(u);
      return;
    }
  }
  const auto info = classify_number(text);
  if (info && info->is_double) {
    double d = 0;
    std::from_chars(text.data(), text.data() + text.size(), d);
    write_double(sink, d);
    return;
  }
  // Neither an exact integer nor exactly a double: keep the decimal text.
  pk.pack_ext(text.size(), decimal_ext_type);
  pk.pack_ext_body(text.data(), text.size());
}

void pack(msgpack::packer<string_sink>& pk, string_sink& sink, const json_value& v) {
  switch (v.type) {
    case json_value::kind::null: pk.pack_nil(); break;
    case json_value::kind::boolean:
      if (v.boolean)
        pk.pack_true();
      else
        pk.pack_false();
      break;
    case json_value::kind::number: pack_number(pk, sink, v.text); break;
    case json_value::kind::string:
      pk.pack_str(static_cast<std::uint32_t>(v.text.size()));
      pk.pack_str_body(v.text.data(), static_cast<std::uint32_t>(v.text.size()));
      break;
    case json_value::kind::array:
      pk.pack_array(static_cast<std::uint32_t>(v.items.size()));
      for (const auto& item : v.items)
        pack(pk, sink, item);
      break;
    case json_value::kind::object:
      pk.pack_map(static_cast<std::uint32_t>(v.items.size()));
      for (const auto& m : v.items) {
        pk.pack_str(static_cast<std::uint32_t>(m.key.size()));
        pk.pack_str_body(m.key.data(), static_cast<std::uint32_t>(m.key.size()));
        pack(pk, sink, m);
      }
      break;
  }
}

} // namespace

std::optional<json_value> parse_json(std::string_view text, std::string* error, std::size_t max_depth) {
  parser p(text, max_depth);
  json_value v;
  if (!p.document(v)) {
    if (error)
      *error = p.error;
    return std::nullopt;
  }
  return v;
}

void write_msgpack(const json_value& v, std::string& out) {
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pack(pk, sink, v);
}

namespace {

// A float's text read once: |value| = digits × 10^exp, `digits` the
// significant digits without leading or trailing zeros (n of them, held in
// `digits` while n <= 19; none for zero).
struct scanned {
  std::uint64_t digits = 0;
  int n = 0;
  long exp = 0;
  bool integer = false;  // no fraction, no exponent
};

// JSON number text (valid grammar); false when its exponent has more than
// four digits (the reference's range check then decides).
bool scan(std::string_view t, scanned& out) {
  std::size_t i = 0;
  if (t[i] == '-')
    ++i;
  // `zeros`: zeros since the last significant digit, trailing unless
  // another digit follows.
  long seen = 0, int_len = -1, last = -1, zeros = 0;
  for (; i < t.size() && t[i] != 'e' && t[i] != 'E'; ++i) {
    const char c = t[i];
    if (c == '.') {
      int_len = seen;
      continue;
    }
    ++seen;
    if (c == '0') {
      if (out.n > 0)
        ++zeros;
      continue;  // leading, or perhaps trailing
    }
    for (; zeros > 0; --zeros) {
      ++out.n;
      out.digits *= 10;  // wraps past 19 digits, where it is not read
    }
    ++out.n;
    out.digits = out.digits * 10 + static_cast<std::uint64_t>(c - '0');
    last = seen - 1;
  }
  if (int_len < 0) {
    int_len = seen;
    out.integer = i == t.size();
  }
  long e = 0;
  if (i < t.size()) {
    ++i;
    bool negative = false;
    if (t[i] == '+' || t[i] == '-')
      negative = t[i++] == '-';
    if (t.size() - i > 4)
      return false;
    for (; i < t.size(); ++i)
      e = e * 10 + (t[i] - '0');
    if (negative)
      e = -e;
  }
  out.exp = out.n == 0 ? 0 : int_len - last - 1 + e;
  return true;
}

using u128 = unsigned __int128;

bool times_pow10(u128& x, long k) {
  static const u128 table[] = {
      u128(1), u128(10), u128(100), u128(1000), u128(10000), u128(100000), u128(1000000), u128(10000000),
      u128(100000000), u128(1000000000), u128(10000000000ULL), u128(100000000000ULL), u128(1000000000000ULL),
      u128(10000000000000ULL), u128(100000000000000ULL), u128(1000000000000000ULL), u128(10000000000000000ULL),
      u128(100000000000000000ULL), u128(1000000000000000000ULL), u128(10000000000000000000ULL)};
  while (k > 0) {
    const long step = k > 19 ? 19 : k;
    if (__builtin_mul_overflow(x, table[step], &x))
      return false;
    k -= step;
  }
  return true;
}

bool times_pow2(u128& x, long k) {
  if (k <= 0 || x == 0)
    return true;
  if (k >= 127 || x > (~u128(0) >> k))
    return false;
  x <<= k;
  return true;
}

// The sign of p × 10^r − a × 2^b, or 2 when it does not fit in 128 bits.
int compare_exact(std::uint64_t p, long r, std::uint64_t a, long b) {
  u128 left = p, right = a;
  if (!times_pow10(left, r) || !times_pow10(right, -r) || !times_pow2(left, -b) || !times_pow2(right, b))
    return 2;
  return left < right ? -1 : left > right ? 1 : 0;
}

// Whether a normal, positive double is exactly the value of its shortest
// text (what std::to_chars writes: the fewest digits that read back as it,
// and of those the nearest) when it is the nearest double to
// |text| = t.digits × 10^t.exp, t.n being 16 or 17; -1 when it cannot tell
// in 128 bits, or on a tie.
//
// The doubles that read back as d form the interval [lo, hi] around it
// (ends in when d's mantissa is even). The text is d's shortest exactly
// when (1) no decimal of fewer digits is in the interval: the two nearest,
// on the grid of 10^(exp+1), are not; and (2) no decimal of as many digits
// in the interval is nearer to d: the neighbour on d's side is not.
int shortest_is(double d, const scanned& t) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  const std::uint64_t fraction = bits & ((std::uint64_t(1) << 52) - 1);
  const long biased = static_cast<long>(bits >> 52);
  const std::uint64_t m = fraction | (std::uint64_t(1) << 52);
  const long e = biased - 1075;  // d = m × 2^e
  // The interval's ends, both as x × 2^(e-2).
  const std::uint64_t lo = fraction == 0 && biased > 1 ? 4 * m - 1 : 4 * m - 2;
  const std::uint64_t hi = 4 * m + 2;
  const bool ends_in = m % 2 == 0;
  auto inside = [&](std::uint64_t p, long r) {
    const int a = compare_exact(p, r, lo, e - 2);
    const int b = compare_exact(p, r, hi, e - 2);
    if (a == 2 || b == 2)
      return 2;
    return ((a > 0 || (ends_in && a == 0)) && (b < 0 || (ends_in && b == 0))) ? 1 : 0;
  };
  // (1) Fewer digits.
  const std::uint64_t coarse = t.digits / 10;
  for (std::uint64_t c : {coarse, coarse + 1}) {
    const int in = inside(c, t.exp + 1);
    if (in != 0)
      return in == 2 ? -1 : 0;
  }
  // (2) As many digits, nearer.
  const int side = compare_exact(t.digits, t.exp, m, e);
  if (side == 2)
    return -1;
  if (side == 0)
    return 1;  // the text is d itself
  const std::uint64_t neighbour = side > 0 ? t.digits - 1 : t.digits + 1;
  // The midpoint between the text and its neighbour, (2·digits ∓ 1) × 5 × 10^(exp-1).
  const int mid = compare_exact((2 * t.digits + (side > 0 ? -1 : 1)) * 5, t.exp - 1, m, e);
  if (mid == 2 || mid == 0)
    return -1;
  const bool neighbour_nearer = side > 0 ? mid > 0 : mid < 0;
  if (!neighbour_nearer)
    return 1;
  const int in = inside(neighbour, t.exp);
  return in == 2 ? -1 : in == 1 ? 0 : 1;
}

// std::to_chars' shortest text of `d`, compared by value with the text's.
bool shortest_equals(double d, std::string_view text) {
  char buf[64];
  const auto w = std::to_chars(buf, buf + sizeof buf, d);
  scanned a, b;
  if (!scan(text, a) || !scan(std::string_view(buf, static_cast<std::size_t>(w.ptr - buf)), b))
    return false;
  if (a.n > 19 || b.n > 19)
    return false;
  return a.n == b.n && a.digits == b.digits && (a.n == 0 || a.exp == b.exp);
}

} // namespace

// The same bytes as pack_number, without its allocations: a float64 exactly
// when the text's decimal value is that of the shortest text of the double
// it reads as (classify_number's test), decided from the digits: below 2^53
// a float of at most 15 significant digits in the normal range always is one
// (DBL_DIG), one of 18 or more never is, and 16 or 17 digits are checked
// exactly against the double's rounding interval (shortest_is), falling
// back to std::to_chars where 128 bits do not hold the numbers. Subnormals
// compare with to_chars' text, and from 2^53 up the reference decides. Checked against
// pack_number by tests/rules/json_simd_test.cpp and fuzz/json.cpp.
void write_msgpack_number(std::string_view text, std::string& out) {
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  const char* end = text.data() + text.size();
  scanned t;
  if (!scan(text, t)) {
    pack_number(pk, sink, text);  // an exponent of five digits or more
    return;
  }
  if (t.integer) {
    std::int64_t i = 0;
    auto r = std::from_chars(text.data(), end, i);
    if (r.ec == std::errc() && r.ptr == end) {
      pk.pack_int64(i);
      return;
    }
    pack_number(pk, sink, text);  // past int64: the reference
    return;
  }
  // Below 10^15, to_chars writes at most 17 significant digits.
  const bool many_digits = t.n >= 18;
  if (!many_digits || t.exp + t.n > 15) {
    double d = 0;
    bool read = false;
    if (t.n > 0 && t.digits <= (std::uint64_t(1) << 53) && t.exp >= -22 && t.exp <= 22) {
      // Clinger's fast path: both operands exact, so one correctly rounded
      // operation gives the nearest double, as from_chars would.
      static const double powers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
      const double m = static_cast<double>(t.digits);
      d = t.exp < 0 ? m / powers[-t.exp] : m * powers[t.exp];
      if (text[0] == '-')
        d = -d;
      read = true;
    } else {
      const auto r = std::from_chars(text.data(), end, d);
      read = r.ec == std::errc() && r.ptr == end && std::isfinite(d);
    }
    if (read) {
      const double magnitude = std::fabs(d);
      if (magnitude >= 9007199254740992.0) {
        // From 2^53 up, to_chars may write the double's exact integer
        // digits (1.01500272243619e+17 as 101500272243619008): the reference.
        pack_number(pk, sink, text);
        return;
      }
      bool exact;
      if (t.n == 0)
        exact = true;
      else if (many_digits)
        exact = false;
      else if (magnitude < std::numeric_limits<double>::min())
        exact = shortest_equals(d, text);
      else if (t.n <= 15)
        exact = true;
      else if (const int is = shortest_is(magnitude, t); is >= 0)
        exact = is == 1;
      else
        exact = shortest_equals(d, text);
      if (exact) {
        write_double(sink, d);
        return;
      }
    }
  }
  pk.pack_ext(static_cast<std::uint32_t>(text.size()), decimal_ext_type);
  pk.pack_ext_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

namespace {

// Strings larger than MessagePack's 32-bit lengths cannot be encoded.
bool too_large(std::string_view json, std::string* error) {
  if (json.size() <= 0xFFFFFFFFu)
    return false;
  if (error)
    *error = "JSON text larger than 4 GiB";
  return true;
}

} // namespace

std::optional<std::string> json_to_msgpack_reference(std::string_view json, std::string* error) {
  if (too_large(json, error))
    return std::nullopt;
  auto v = parse_json(json, error);
  if (!v)
    return std::nullopt;
  std::string out;
  out.reserve(json.size());
  write_msgpack(*v, out);
  return out;
}

} // namespace detail

std::optional<std::string> json_to_msgpack(std::string_view json, std::string* error) {
  if (detail::too_large(json, error))
    return std::nullopt;
  std::string out;
  out.reserve(json.size());
  if (detail::json_to_msgpack_fast(json, out))
    return out;
  // Invalid JSON, or a scalar document: the reference says which, and where.
  return detail::json_to_msgpack_reference(json, error);
}

} // namespace troupe::rules
