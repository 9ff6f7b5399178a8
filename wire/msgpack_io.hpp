// Small helpers shared by everything that reads or writes MessagePack.
//
// msgpack-c throws on malformed input and, unbounded, lets six bytes ask
// for gigabytes; `read_one` is the single place where untrusted bytes are
// unpacked, always with limits and with every exception turned into an
// error value.
#pragma once

#include <msgpack.hpp>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

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

/// Reads MessagePack values one after another from untrusted bytes without
/// building objects or allocating: the decoders' hot path (an envelope at
/// every subscriber, each entry of a PutEvents). Every read checks the
/// bounds first, and a failed read names `what`: truncated (the value is
/// missing or cut short), wrong_shape (another type), too_large (over the
/// given limit) or not_msgpack (a byte no value starts with). A failed read
/// leaves the offset where it was.
class reader {
public:
  explicit reader(std::string_view bytes, std::size_t offset = 0) : bytes_(bytes), off_(offset) {}

  std::size_t offset() const { return off_; }
  bool at_end() const { return off_ >= bytes_.size(); }

  /// An array header; fails with too_large past `max_items` elements.
  result<std::uint32_t> array(const char* what, std::size_t max_items);
  /// A string, as a view into the bytes; too_large past `max_bytes`.
  result<std::string_view> str(const char* what, std::size_t max_bytes);
  /// An integer of any encoding whose value is at least 0.
  result<std::uint64_t> uint(const char* what);
  /// An integer of any encoding whose value fits an int64.
  result<std::int64_t> integer(const char* what);
  /// Takes a nil and answers true, or answers false and takes nothing.
  bool nil() {
    if (off_ < bytes_.size() && static_cast<std::uint8_t>(bytes_[off_]) == 0xc0) {
      ++off_;
      return true;
    }
    return false;
  }
  /// One whole value of any type, walked within `limits` (each container's
  /// items, each string's bytes, the nesting), as a view of its bytes.
  result<std::string_view> value(const read_limits& limits, const char* what);

private:
  result<std::uint64_t> sized(std::size_t header, std::size_t length_bytes, const char* what);
  /// A length header: the fix form (`tag & fix_mask` is `fix_tag`, the
  /// length in the other bits) or a wide one (tags from `wide` on, their
  /// lengths `widths` bytes, big-endian); the header's size and the length.
  /// Fails naming `kind` for any other tag.
  result<std::pair<std::size_t, std::uint64_t>> length(const char* what, const char* kind, std::uint8_t fix_mask,
                                                       std::uint8_t fix_tag, std::uint8_t wide,
                                                       std::initializer_list<std::size_t> widths);

  std::string_view bytes_;
  std::size_t off_;
};

} // namespace troupe::wire
