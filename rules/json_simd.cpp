// json_to_msgpack's fast path: simdjson's On Demand parser walks the text
// once and the MessagePack is written as it goes, with no tree in between.
//
// What it keeps from the reference reader (rules/json.cpp): members in order
// with their duplicates (On Demand iterates an object's fields as written),
// numbers by their text (raw_json_token, then the reference's own number
// writer), and the same refusals. simdjson's stage 1 validates UTF-8 and
// refuses unescaped control characters, its string unescaping refuses lone
// surrogates, and write_msgpack_number checks the number grammar, since On
// Demand hands over a number's token unchecked. Anything it refuses, and any document
// that is not an object or an array, goes to the reference, which gives the
// same answer or the error with its line and column. The two are compared
// on every case by tests/rules/json_simd_test.cpp and fuzz/json.cpp.
//
// A container's element count comes first in MessagePack and is known only
// at its end: each container gets a one-byte header, widened in place to
// the three or five bytes msgpack-c would write when it holds 16 items or
// more. The bytes are written into the output string sized ahead, with a
// check for room before each write rather than an append each.
#include "rules/json.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace troupe::rules::detail {

namespace {

namespace od = simdjson::ondemand;

// Larger documents get a parser and a padded copy of their own, so that no
// thread keeps either sized for the largest text it ever saw.
constexpr std::size_t kept_parser_capacity = 64 * 1024;

bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class writer {
 public:
  // Writes after out's current end; finish() trims out to what was written.
  explicit writer(std::string& out, std::size_t expected) : out_(out), end_(out.size()) {
    out_.resize(end_ + expected);
  }

  void finish() { out_.resize(end_); }

  bool object(od::object o, std::size_t depth) {
    if (depth >= max_json_depth)
      return false;
    const std::size_t at = open();
    std::uint32_t n = 0;
    for (auto field : o) {
      od::field f;
      std::string_view key;
      if (std::move(field).get(f) || f.unescaped_key().get(key))
        return false;
      string(key);
      if (!value(f.value(), depth + 1) || ++n == 0)
        return false;
    }
    close(at, n, 0x80, 0xde);
    return true;
  }

  bool array(od::array a, std::size_t depth) {
    if (depth >= max_json_depth)
      return false;
    const std::size_t at = open();
    std::uint32_t n = 0;
    for (auto item : a) {
      od::value v;
      if (std::move(item).get(v) || !value(v, depth + 1) || ++n == 0)
        return false;
    }
    close(at, n, 0x90, 0xdc);
    return true;
  }

 private:
  bool value(od::value v, std::size_t depth) {
    od::json_type type;
    if (v.type().get(type))
      return false;
    switch (type) {
      case od::json_type::object: {
        od::object o;
        return !v.get_object().get(o) && object(o, depth);
      }
      case od::json_type::array: {
        od::array a;
        return !v.get_array().get(a) && array(a, depth);
      }
      case od::json_type::string: {
        std::string_view s;
        if (v.get_string().get(s))
          return false;
        string(s);
        return true;
      }
      case od::json_type::number: {
        std::string_view t = v.raw_json_token();
        while (!t.empty() && json_space(t.back()))
          t.remove_suffix(1);
        room(t.size() + 9);
        char* written = write_msgpack_number(t, out_.data() + end_);
        if (!written)
          return false;
        end_ = static_cast<std::size_t>(written - out_.data());
        return true;
      }
      case od::json_type::boolean: {
        bool b;
        if (v.get_bool().get(b))
          return false;
        byte(b ? 0xc3 : 0xc2);
        return true;
      }
      case od::json_type::null: {
        bool null = false;
        if (v.is_null().get(null) || !null)
          return false;
        byte(0xc0);
        return true;
      }
    }
    return false;
  }

  // Room for n more bytes after end_.
  void room(std::size_t n) {
    if (out_.size() - end_ < n)
      out_.resize(std::max(out_.size() * 2, end_ + n));
  }

  void byte(unsigned b) {
    room(1);
    out_[end_++] = static_cast<char>(b);
  }

  // msgpack-c's pack_str: fixstr, str8, str16, str32.
  void string(std::string_view s) {
    const auto n = static_cast<std::uint32_t>(s.size());
    room(s.size() + 5);
    char* h = out_.data() + end_;
    if (n < 32) {
      h[0] = static_cast<char>(0xa0 | n);
      end_ += 1;
    } else if (n < 256) {
      h[0] = static_cast<char>(0xd9);
      h[1] = static_cast<char>(n);
      end_ += 2;
    } else if (n < 65536) {
      h[0] = static_cast<char>(0xda);
      h[1] = static_cast<char>(n >> 8);
      h[2] = static_cast<char>(n);
      end_ += 3;
    } else {
      h[0] = static_cast<char>(0xdb);
      h[1] = static_cast<char>(n >> 24);
      h[2] = static_cast<char>(n >> 16);
      h[3] = static_cast<char>(n >> 8);
      h[4] = static_cast<char>(n);
      end_ += 5;
    }
    std::memcpy(out_.data() + end_, s.data(), s.size());
    end_ += s.size();
  }

  // Most containers hold fewer than 16 items: one byte is kept for the
  // header, and widened in place for the others.
  std::size_t open() {
    byte(0);
    return end_ - 1;
  }

  // msgpack-c's pack_map / pack_array: fix (n < 16), 16-bit, 32-bit count;
  // `fix` is 0x80 or 0x90, `wide` the 16-bit marker (the 32-bit one follows).
  void close(std::size_t at, std::uint32_t n, unsigned fix, unsigned wide) {
    if (n < 16) {
      out_[at] = static_cast<char>(fix | n);
      return;
    }
    const std::size_t extra = n < 65536 ? 2 : 4;
    room(extra);
    char* h = out_.data() + at;
    std::memmove(h + 1 + extra, h + 1, end_ - at - 1);
    end_ += extra;
    if (n < 65536) {
      h[0] = static_cast<char>(wide);
      h[1] = static_cast<char>(n >> 8);
      h[2] = static_cast<char>(n);
    } else {
      h[0] = static_cast<char>(wide + 1);
      h[1] = static_cast<char>(n >> 24);
      h[2] = static_cast<char>(n >> 16);
      h[3] = static_cast<char>(n >> 8);
      h[4] = static_cast<char>(n);
    }
  }

  std::string& out_;
  std::size_t end_;  // the end of what is written
};

// `padded`: room for the text and the SIMDJSON_PADDING bytes past it that
// On Demand reads.
bool convert(od::parser& parser, std::string& padded, std::string_view json, std::string& out) {
  padded.assign(json);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (parser.iterate(simdjson::padded_string_view(padded.data(), json.size(), padded.size())).get(doc))
    return false;
  od::json_type type;
  if (doc.type().get(type))
    return false;
  // Twice the text and a little is room enough for most documents
  // (numbers grow most: "0.0" becomes nine bytes).
  writer w(out, 2 * json.size() + 64);
  bool ok;
  if (type == od::json_type::object) {
    od::object o;
    ok = !doc.get_object().get(o) && w.object(o, 0);
  } else if (type == od::json_type::array) {
    od::array a;
    ok = !doc.get_array().get(a) && w.array(a, 0);
  } else {
    return false;  // a scalar document: rare, the reference takes it
  }
  w.finish();
  // Nothing may follow the value.
  return ok && doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

} // namespace

bool json_to_msgpack_fast(std::string_view json, std::string& out) {
  const std::size_t start = out.size();
  bool ok;
  if (json.size() <= kept_parser_capacity) {
    thread_local od::parser parser;
    thread_local std::string padded;
    ok = convert(parser, padded, json, out);
  } else {
    od::parser parser;
    std::string padded;
    ok = convert(parser, padded, json, out);
  }
  if (!ok)
    out.resize(start);
  return ok;
}

} // namespace troupe::rules::detail
