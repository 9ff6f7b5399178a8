#include "wire/msgpack_io.hpp"

namespace troupe::wire {

result<msgpack::object> read_one(std::string_view bytes, std::size_t& offset, const read_limits& limits,
                                 const char* what, msgpack::zone& zone) {
  if (offset >= bytes.size())
    return error{errc::truncated, std::string(what) + ": missing"};
  msgpack::unpack_limit lim(limits.items, limits.items, limits.bytes, limits.bytes,
                            limits.bytes, limits.depth);
  try {
    // Strings, bin and ext point into `bytes` instead of being copied into
    // the zone (the caller copies out what it keeps).
    const auto refer = [](msgpack::type::object_type, std::size_t, void*) { return true; };
    return msgpack::unpack(zone, bytes.data(), bytes.size(), offset, refer, nullptr, lim);
  } catch (const msgpack::insufficient_bytes&) {
    return error{errc::truncated, std::string(what) + ": truncated"};
  } catch (const msgpack::depth_size_overflow&) {
    return error{errc::too_large, std::string(what) + ": nested deeper than " + std::to_string(limits.depth) + " levels"};
  } catch (const msgpack::size_overflow&) {
    return error{errc::too_large, std::string(what) + ": over the size limit"};
  } catch (const std::exception& e) {
    return error{errc::not_msgpack, std::string(what) + ": not MessagePack (" + e.what() + ")"};
  }
}

result<msgpack::object_handle> read_one(std::string_view bytes, std::size_t& offset,
                                        const read_limits& limits, const char* what) {
  auto zone = std::make_unique<msgpack::zone>();
  auto o = read_one(bytes, offset, limits, what, *zone);
  if (!o)
    return o.err();
  return msgpack::object_handle(*o, std::move(zone));
}

result<std::uint32_t> read_array_header(std::string_view bytes, std::size_t& offset,
                                        const char* what) {
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[offset + i]); };
  if (offset >= bytes.size())
    return error{errc::truncated, std::string(what) + ": empty"};
  const auto tag = byte(0);
  if ((tag & 0xf0) == 0x90) {
    offset += 1;
    return static_cast<std::uint32_t>(tag & 0x0f);
  }
  if (tag == 0xdc) {
    if (bytes.size() - offset < 3)
      return error{errc::truncated, std::string(what) + ": truncated array header"};
    const auto n = static_cast<std::uint32_t>(byte(1) << 8 | byte(2));
    offset += 3;
    return n;
  }
  if (tag == 0xdd) {
    if (bytes.size() - offset < 5)
      return error{errc::truncated, std::string(what) + ": truncated array header"};
    const auto n = static_cast<std::uint32_t>(byte(1)) << 24 | static_cast<std::uint32_t>(byte(2)) << 16
                   | static_cast<std::uint32_t>(byte(3)) << 8 | static_cast<std::uint32_t>(byte(4));
    offset += 5;
    return n;
  }
  return error{errc::wrong_shape, std::string(what) + ": not an array"};
}

result<msgpack::object_handle> read_exactly_one(std::string_view bytes,
                                                const read_limits& limits, const char* what) {
  std::size_t offset = 0;
  auto oh = read_one(bytes, offset, limits, what);
  if (oh && offset != bytes.size())
    return error{errc::trailing_bytes,
                 std::string(what) + ": " + std::to_string(bytes.size() - offset)
                     + " bytes after the value"};
  return oh;
}

namespace {

// Walks one value without building it (no zone, no allocation), holding it
// to `limits` as read_one does.
struct limit_walk : msgpack::null_visitor {
  explicit limit_walk(const read_limits& l) : limits(l) {}
  const read_limits& limits;
  std::size_t depth = 0;
  const char* over = nullptr;
  bool short_of_bytes = false;

  bool container(std::uint32_t n) {
    if (++depth > limits.depth)
      return over = "nested too deeply", false;
    if (n > limits.items)
      return over = "over the size limit", false;
    return true;
  }
  bool sized(std::uint32_t n) {
    if (n > limits.bytes)
      return over = "over the size limit", false;
    return true;
  }
  bool start_array(std::uint32_t n) { return container(n); }
  bool start_map(std::uint32_t n) { return container(n); }
  bool end_array() { return --depth, true; }
  bool end_map() { return --depth, true; }
  bool visit_str(const char*, std::uint32_t n) { return sized(n); }
  bool visit_bin(const char*, std::uint32_t n) { return sized(n); }
  bool visit_ext(const char*, std::uint32_t n) { return sized(n); }
  void insufficient_bytes(std::size_t, std::size_t) { short_of_bytes = true; }
};

error read_error(errc code, const char* what, const char* problem) {
  return error{code, std::string(what) + ": " + problem};
}

std::uint64_t big_endian(const char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v = v << 8 | static_cast<std::uint8_t>(p[i]);
  return v;
}

} // namespace

result<std::uint64_t> reader::sized(std::size_t header, std::size_t length_bytes, const char* what) {
  if (bytes_.size() - off_ < header)
    return read_error(errc::truncated, what, "truncated");
  return big_endian(bytes_.data() + off_ + header - length_bytes, length_bytes);
}

result<std::pair<std::size_t, std::uint64_t>> reader::length(const char* what, const char* kind, std::uint8_t fix_mask,
                                                             std::uint8_t fix_tag, std::uint8_t wide,
                                                             std::initializer_list<std::size_t> widths) {
  if (at_end())
    return read_error(errc::truncated, what, "missing");
  const auto tag = static_cast<std::uint8_t>(bytes_[off_]);
  if ((tag & fix_mask) == fix_tag)
    return std::pair<std::size_t, std::uint64_t>{1, tag & static_cast<std::uint8_t>(~fix_mask)};
  if (tag >= wide && tag < wide + widths.size()) {
    const auto width = widths.begin()[tag - wide];
    auto v = sized(1 + width, width, what);
    if (!v)
      return v.err();
    return std::pair<std::size_t, std::uint64_t>{1 + width, *v};
  }
  return read_error(tag == 0xc1 ? errc::not_msgpack : errc::wrong_shape, what, kind);
}

result<std::uint32_t> reader::array(const char* what, std::size_t max_items) {
  auto h = length(what, "not an array", 0xf0, 0x90, 0xdc, {2, 4});
  if (!h)
    return h.err();
  const auto [header, n] = *h;
  if (n > max_items)
    return read_error(errc::too_large, what, "over the size limit");
  off_ += header;
  return static_cast<std::uint32_t>(n);
}

result<std::string_view> reader::str(const char* what, std::size_t max_bytes) {
  auto h = length(what, "not a string", 0xe0, 0xa0, 0xd9, {1, 2, 4});
  if (!h)
    return h.err();
  const auto [header, n] = *h;
  if (bytes_.size() - off_ - header < n)
    return read_error(errc::truncated, what, "truncated");
  if (n > max_bytes)
    return read_error(errc::too_large, what, "over the size limit");
  const std::string_view out(bytes_.data() + off_ + header, static_cast<std::size_t>(n));
  off_ += header + static_cast<std::size_t>(n);
  return out;
}

result<std::int64_t> reader::integer(const char* what) {
  if (at_end())
    return read_error(errc::truncated, what, "missing");
  const auto tag = static_cast<std::uint8_t>(bytes_[off_]);
  if (tag <= 0x7f || tag >= 0xe0) {  // positive and negative fixint
    off_ += 1;
    return static_cast<std::int64_t>(static_cast<std::int8_t>(tag));
  }
  if (tag >= 0xcc && tag <= 0xd3) {  // uint 8..64, int 8..64
    const std::size_t width = std::size_t{1} << ((tag - 0xcc) & 3);
    auto v = sized(1 + width, width, what);
    if (!v)
      return v.err();
    std::int64_t value = 0;
    if (tag <= 0xcf) {
      if (*v > static_cast<std::uint64_t>(INT64_MAX))
        return read_error(errc::wrong_shape, what, "an integer out of range");
      value = static_cast<std::int64_t>(*v);
    } else {  // sign-extend from the encoded width
      const int shift = static_cast<int>(64 - 8 * width);
      value = static_cast<std::int64_t>(*v << shift) >> shift;
    }
    off_ += 1 + width;
    return value;
  }
  return read_error(tag == 0xc1 ? errc::not_msgpack : errc::wrong_shape, what, "not an integer");
}

result<std::uint64_t> reader::uint(const char* what) {
  if (!at_end()) {
    const auto tag = static_cast<std::uint8_t>(bytes_[off_]);
    if (tag == 0xcf) {  // the one encoding past int64
      auto v = sized(9, 8, what);
      if (!v)
        return v.err();
      off_ += 9;
      return *v;
    }
  }
  const auto before = off_;
  auto v = integer(what);
  if (!v)
    return v.err();
  if (*v < 0) {
    off_ = before;
    return read_error(errc::wrong_shape, what, "not a non-negative integer");
  }
  return static_cast<std::uint64_t>(*v);
}

result<std::string_view> reader::value(const read_limits& limits, const char* what) {
  if (at_end())
    return read_error(errc::truncated, what, "missing");
  limit_walk walk(limits);
  auto off = off_;
  bool ok = false;
  try {
    ok = msgpack::parse(bytes_.data(), bytes_.size(), off, walk);
  } catch (const std::exception& e) {
    return error{errc::not_msgpack, std::string(what) + ": not MessagePack (" + e.what() + ")"};
  }
  if (walk.over)
    return walk.over == std::string_view("nested too deeply")
               ? error{errc::too_large, std::string(what) + ": nested deeper than " + std::to_string(limits.depth) +
                                            " levels"}
               : read_error(errc::too_large, what, walk.over);
  if (!ok)
    return walk.short_of_bytes ? read_error(errc::truncated, what, "truncated")
                               : read_error(errc::not_msgpack, what, "not MessagePack");
  const std::string_view out(bytes_.data() + off_, off - off_);
  off_ = off;
  return out;
}

} // namespace troupe::wire
