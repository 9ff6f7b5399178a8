#include "rules/json.hpp"

#include <msgpack.hpp>

#include <charconv>
#include <cstring>

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

void pack_number(msgpack::packer<string_sink>& pk, string_sink& sink, const std::string& text) {
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
    // Written by hand: msgpack-c's pack_double turns integral doubles into
    // ints (5.0 would arrive as 5, -0.0 as 0), and floats stay floats here.
    double d = 0;
    std::from_chars(text.data(), text.data() + text.size(), d);
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    char buf[9];
    buf[0] = static_cast<char>(0xCB);
    for (int k = 0; k < 8; ++k)
      buf[1 + k] = static_cast<char>(bits >> (56 - 8 * k));
    sink.write(buf, sizeof buf);
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

} // namespace detail

std::optional<std::string> json_to_msgpack(std::string_view json, std::string* error) {
  // Strings larger than MessagePack's 32-bit lengths cannot be encoded.
  if (json.size() > 0xFFFFFFFFu) {
    if (error)
      *error = "JSON text larger than 4 GiB";
    return std::nullopt;
  }
  auto v = detail::parse_json(json, error);
  if (!v)
    return std::nullopt;
  std::string out;
  out.reserve(json.size());
  detail::write_msgpack(*v, out);
  return out;
}

} // namespace troupe::rules
