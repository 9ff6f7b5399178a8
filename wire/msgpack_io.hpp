// Small helpers shared by everything that reads or writes MessagePack.
//
// msgpack-c throws on malformed input and, unbounded, lets six bytes ask
// for gigabytes; `read_one` is the single place where untrusted bytes are
// unpacked, always with limits and with every exception turned into an
// error value.
#pragma once

#include <msgpack.hpp>

#include <string>
#include <string_view>

#include "wire/error.hpp"
#include "wire/limits.hpp"

namespace troupe::wire {

/// Lets msgpack::packer append to a std::string.
struct string_sink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

/// Unpacks the value starting at `offset` and advances it past the value.
/// Fails with truncated, not_msgpack or too_large (naming `what`).
result<msgpack::object_handle> read_one(std::string_view bytes, std::size_t& offset,
                                        const read_limits& limits, const char* what);

/// The same into `zone`, which the caller shares between the values it
/// reads (one allocation for an envelope's twelve fields, not twelve). The
/// object's strings, bin and ext point into `bytes`, its containers into
/// `zone`: it is valid while both are. (The handle above copies everything
/// into its own zone.)
result<msgpack::object> read_one(std::string_view bytes, std::size_t& offset, const read_limits& limits,
                                 const char* what, msgpack::zone& zone);

/// Reads an array header at `offset` (fixarray, array 16 or array 32) and
/// advances past it. Fails with truncated or wrong_shape.
result<std::uint32_t> read_array_header(std::string_view bytes, std::size_t& offset,
                                        const char* what);

/// Unpacks `bytes` as exactly one value: fails with trailing_bytes when
/// anything is left over.
result<msgpack::object_handle> read_exactly_one(std::string_view bytes,
                                                const read_limits& limits, const char* what);

} // namespace troupe::wire
