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

// Writes at a place the caller has made room at.
struct place_sink {
  char* at;
  void write(const char* data, std::size_t size) {
    std::memcpy(at, data, size);
    at += size;
  }
};

// Written by hand: msgpack-c's pack_double turns integral doubles into ints
// (5.0 would arrive as 5, -0.0 as 0), and floats stay floats here.
template <class Sink>
void write_double(Sink& sink, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char big_endian[8];
  for (int k = 0; k < 8; ++k)
    big_endian[k] = static_cast<char>(bits >> (56 - 8 * k));
  // Two writes: one 9-byte buffer written bytewise and copied as words
  // stalls the store-to-load forwarding.
  const char marker = static_cast<char>(0xCB);
  sink.write(&marker, 1);
  sink.write(big_endian, sizeof big_endian);
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

std::uint64_t pow10_u64(int k) {
  static const std::uint64_t table[] = {1ULL,
                                        10ULL,
                                        100ULL,
                                        1000ULL,
                                        10000ULL,
                                        100000ULL,
                                        1000000ULL,
                                        10000000ULL,
                                        100000000ULL,
                                        1000000000ULL,
                                        10000000000ULL,
                                        100000000000ULL,
                                        1000000000000ULL,
                                        10000000000000ULL,
                                        100000000000000ULL,
                                        1000000000000000ULL,
                                        10000000000000000ULL,
                                        100000000000000000ULL,
                                        1000000000000000000ULL,
                                        10000000000000000000ULL};
  return table[k];
}

// Eight ASCII digits, as little-endian bytes: whether all are digits, and
// their value (three multiplications, pairing digits, then pairs, then
// quads).
constexpr bool little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

bool eight_digits(std::uint64_t v) {
  return ((v & 0xF0F0F0F0F0F0F0F0ULL) | (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) ==
         0x3333333333333333ULL;
}

std::uint64_t eight_digits_value(std::uint64_t v) {
  v = ((v & 0x0F0F0F0F0F0F0F0FULL) * (10 * 256 + 1)) >> 8;
  v = ((v & 0x00FF00FF00FF00FFULL) * (100 * 65536 + 1)) >> 16;
  return ((v & 0x0000FFFF0000FFFFULL) * (10000 * 4294967296ULL + 1)) >> 32;
}

enum class scan_result { invalid, long_text, read };

// Checks the JSON number grammar (std::to_chars' output passes too) and
// reads the number; long_text when its exponent has more than four digits
// or its mantissa more than 19 digits after a leading zero (the reference
// decides those).
scan_result scan(std::string_view t, scanned& out) {
  const char* p = t.data();
  const char* const end = p + t.size();
  if (p < end && *p == '-')
    ++p;
  if (p == end)
    return scan_result::invalid;
  std::uint64_t digits = 0;
  long count = 0, point = -1;
  auto run = [&] {
    const long before = count;
    while (little_endian && end - p >= 8) {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      if (!eight_digits(v))
        break;
      digits = digits * 100000000ULL + eight_digits_value(v);
      count += 8;
      p += 8;
    }
    for (; p < end && static_cast<unsigned>(*p - '0') < 10; ++p, ++count)
      digits = digits * 10 + static_cast<unsigned>(*p - '0');
    return count > before;
  };
  if (*p == '0') {
    ++p;  // a lone leading zero: nothing to the value
    if (p < end && static_cast<unsigned>(*p - '0') < 10)
      return scan_result::invalid;
  } else if (!run()) {
    return scan_result::invalid;
  }
  if (p < end && *p == '.') {
    ++p;
    point = count;
    if (!run())
      return scan_result::invalid;
  }
  long e = 0;
  bool long_exponent = false;
  if (p < end) {
    if (*p != 'e' && *p != 'E')
      return scan_result::invalid;
    ++p;
    bool negative = false;
    if (p < end && (*p == '+' || *p == '-'))
      negative = *p++ == '-';
    if (p == end)
      return scan_result::invalid;
    long_exponent = end - p > 4;
    for (; p < end; ++p) {
      if (static_cast<unsigned>(*p - '0') >= 10)
        return scan_result::invalid;
      if (!long_exponent)
        e = e * 10 + (*p - '0');
    }
    if (negative)
      e = -e;
  } else {
    out.integer = point < 0;
  }
  if (count > 19 || long_exponent)
    return scan_result::long_text;
  if (digits == 0) {
    out.n = 0;
    out.exp = 0;
    return scan_result::read;
  }
  // |value| = digits × 10^exp; then the trailing zeros go, and zeros
  // before the first significant digit (0.05) are not counted.
  long exp = (point < 0 ? 0 : point - count) + e;
  int n = static_cast<int>(count);
  while (digits % 10 == 0) {
    digits /= 10;
    ++exp;
    --n;
  }
  while (n > 1 && digits < pow10_u64(n - 1))
    --n;
  out.digits = digits;
  out.n = n;
  out.exp = exp;
  return scan_result::read;
}

using u128 = unsigned __int128;

// 10^k, k <= 21, in 128 bits.
u128 pow10_wide(long k) {
  return k <= 19 ? u128(pow10_u64(static_cast<int>(k))) : u128(pow10_u64(19)) * pow10_u64(static_cast<int>(k - 19));
}

// A positive, normal double d and a text |t| = t.digits × 10^t.exp
// (t.exp <= 0) on one integer scale, × 10^-exp × 2^(2-e) where d = m × 2^e:
// the text, d, the ends of d's interval (the decimals that read back as d,
// ends in when m is even: reading rounds half to even), and one step of the
// text's last digit.
struct placed {
  u128 text, at, lo, hi, step;
  bool ends_in;
  bool inside() const { return (text > lo || (ends_in && text == lo)) && (text < hi || (ends_in && text == hi)); }
};

// False when the numbers do not fit in 128 bits.
bool place(double d, const scanned& t, placed& p) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  const std::uint64_t fraction = bits & ((std::uint64_t(1) << 52) - 1);
  const long biased = static_cast<long>(bits >> 52);
  const std::uint64_t m = fraction | (std::uint64_t(1) << 52);
  const long shift = 2 - (biased - 1075);
  if (t.exp < -21 || t.exp > 0 || shift < 1 || shift > 100)
    return false;
  if (shift > 64 && (u128(t.digits) >> (128 - shift)) != 0)
    return false;
  const u128 ten = pow10_wide(-t.exp);  // (4m + 2) × ten < 2^55 × 10^21 < 2^125
  p.text = u128(t.digits) << shift;
  p.at = u128(4 * m) * ten;
  p.lo = u128(fraction == 0 && biased > 1 ? 4 * m - 1 : 4 * m - 2) * ten;  // a power of two: the step below is half
  p.hi = u128(4 * m + 2) * ten;
  p.step = u128(1) << shift;
  p.ends_in = m % 2 == 0;
  return true;
}

// Whether the placed double is exactly the value of its shortest text (what
// std::to_chars writes: the fewest digits that read back as it, and of
// those the nearest), the text being inside its interval with 16 or 17
// digits; -1 on a tie. The text is d's shortest exactly when (1) no decimal
// of fewer digits is in the interval: the two nearest, on the grid of ten
// steps, are not; and (2) no decimal of as many digits in the interval is
// nearer to d: the neighbour on d's side is not.
int shortest_is(const placed& p, const scanned& t) {
  const u128 below = p.text - p.lo, above = p.hi - p.text;  // room on each side
  auto fits = [&](u128 distance, u128 room) { return distance < room || (p.ends_in && distance == room); };
  const unsigned last = static_cast<unsigned>(t.digits % 10);  // 1 to 9: no trailing zeros
  if (fits(last * p.step, below) || fits((10 - last) * p.step, above))
    return 0;
  if (p.text == p.at)
    return 1;
  const bool over = p.text > p.at;
  const u128 off = over ? p.text - p.at : p.at - p.text;
  if (2 * off == p.step)
    return -1;
  if (2 * off < p.step)
    return 1;  // no decimal of as many digits is nearer
  return fits(p.step, over ? below : above) ? 0 : 1;
}

// std::to_chars' shortest text of `d`, compared by value with the text's.
bool shortest_equals(double d, std::string_view text) {
  char buf[64];
  const auto w = std::to_chars(buf, buf + sizeof buf, d);
  scanned a, b;
  if (scan(text, a) != scan_result::read ||
      scan(std::string_view(buf, static_cast<std::size_t>(w.ptr - buf)), b) != scan_result::read)
    return false;
  if (a.n > 19 || b.n > 19)
    return false;
  return a.n == b.n && a.digits == b.digits && (a.n == 0 || a.exp == b.exp);
}

} // namespace

constexpr double powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// The same bytes as pack_number, without its allocations: a float64 exactly
// when the text's decimal value is that of the shortest text of the double
// it reads as (classify_number's test), decided from the digits: below 2^53
// a float of at most 15 significant digits in the normal range always is one
// (DBL_DIG), one of 18 or more never is, and 16 or 17 digits are checked
// exactly against the double's rounding interval (shortest_is), falling
// back to std::to_chars where 128 bits do not hold the numbers. Subnormals
// compare with to_chars' text, and from 2^53 up the reference decides. Checked against
// pack_number by tests/rules/json_simd_test.cpp and fuzz/json.cpp.
char* write_msgpack_number(std::string_view text, char* at) {
  place_sink sink{at};
  msgpack::packer<place_sink> pk(sink);
  const char* end = text.data() + text.size();
  auto reference = [&] {
    std::string bytes;
    string_sink reference_sink{bytes};
    msgpack::packer<string_sink> reference_packer(reference_sink);
    pack_number(reference_packer, reference_sink, text);
    sink.write(bytes.data(), bytes.size());
    return sink.at;
  };
  scanned t;
  switch (scan(text, t)) {
    case scan_result::invalid: return nullptr;
    case scan_result::long_text: return reference();
    case scan_result::read: break;
  }
  if (t.integer) {
    std::int64_t i = 0;
    auto r = std::from_chars(text.data(), end, i);
    if (r.ec == std::errc() && r.ptr == end) {
      pk.pack_int64(i);
      return sink.at;
    }
    return reference();  // past int64
  }
  // Below 10^15, to_chars writes at most 17 significant digits.
  const bool many_digits = t.n >= 18;
  if (!many_digits || t.exp + t.n > 15) {
    double magnitude = 0;
    bool read = false;
    placed p;
    bool placed_ok = false;
    if (t.n == 0) {
      read = true;
    } else if (t.digits <= (std::uint64_t(1) << 53) && t.exp >= -22 && t.exp <= 22) {
      // Clinger's fast path: both operands exact, so one correctly rounded
      // operation gives the nearest double, as from_chars would.
      const double digits = static_cast<double>(t.digits);
      magnitude = t.exp < 0 ? digits / powers_of_ten[-t.exp] : digits * powers_of_ten[t.exp];
      read = true;
    } else if (t.n <= 17 && t.exp >= -21 && t.exp < 0) {
      // Two roundings (the digits to a double, then the division) may miss
      // the nearest double by a step: a candidate is taken only when the
      // text is inside the interval of decimals that read as it.
      const double near = static_cast<double>(t.digits) / powers_of_ten[-t.exp];
      std::uint64_t bits;
      std::memcpy(&bits, &near, sizeof bits);
      for (std::uint64_t candidate_bits : {bits, bits - 1, bits + 1}) {
        double candidate;
        std::memcpy(&candidate, &candidate_bits, sizeof candidate);
        if (std::isnormal(candidate) && place(candidate, t, p) && p.inside()) {
          magnitude = candidate;
          read = placed_ok = true;
          break;
        }
      }
    }
    double d = text[0] == '-' ? -magnitude : magnitude;
    if (!read) {
      const auto r = std::from_chars(text.data(), end, d);
      read = r.ec == std::errc() && r.ptr == end && std::isfinite(d);
      magnitude = std::fabs(d);
    }
    if (read) {
      if (magnitude >= 9007199254740992.0) {
        // From 2^53 up, to_chars may write the double's exact integer
        // digits (1.01500272243619e+17 as 101500272243619008): the reference.
        return reference();
      }
      bool exact;
      if (t.n == 0) {
        exact = true;
      } else if (many_digits) {
        exact = false;
      } else if (magnitude < std::numeric_limits<double>::min()) {
        exact = shortest_equals(d, text);
      } else if (t.n <= 15) {
        exact = true;
      } else {
        if (!placed_ok)
          placed_ok = place(magnitude, t, p) && p.inside();
        const int is = placed_ok ? shortest_is(p, t) : -1;
        exact = is >= 0 ? is == 1 : shortest_equals(d, text);
      }
      if (exact) {
        write_double(sink, d);
        return sink.at;
      }
    }
  }
  pk.pack_ext(static_cast<std::uint32_t>(text.size()), decimal_ext_type);
  pk.pack_ext_body(text.data(), static_cast<std::uint32_t>(text.size()));
  return sink.at;
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
  if (detail::json_to_msgpack_fast(json, out))
    return out;
  // Invalid JSON, or a scalar document: the reference says which, and where.
  return detail::json_to_msgpack_reference(json, error);
}

} // namespace troupe::rules
