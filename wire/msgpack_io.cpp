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
    return error{errc::too_large, std::string(what) + ": nested too deeply"};
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

} // namespace troupe::wire
