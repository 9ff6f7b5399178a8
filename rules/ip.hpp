// IP addresses and CIDR blocks, for the `cidr` operator and for exact
// string values that are addresses.
//
// EventBridge compares a pattern string that is an IP address as an
// address, so "2001:db8::1" matches "2001:0DB8::1"; troupe does the same. The
// accepted forms are strict: IPv4 as four decimal octets without leading
// zeros, IPv6 as hex groups with at most one "::" (no zone, no embedded
// dotted quad, as event-ruler). An IPv4-mapped IPv6 address (::ffff:a00:1)
// *is* the IPv4 address. Families never cross otherwise: event-ruler lets an
// IPv4 CIDR match IPv6 addresses that share its leading 32 bits, troupe does
// not (see tests/rules/quirks_test.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace troupe::rules::detail {

struct ip_address {
  std::uint8_t family = 0;             // 4 or 6
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4
  std::size_t size() const { return family == 4 ? 4 : 16; }
};

/// Parses an address in the forms above; nullopt when `s` is not one.
std::optional<ip_address> parse_ip(std::string_view s);

struct cidr_block {
  ip_address network;  // host bits cleared
  unsigned bits = 0;   // prefix length
};

/// Parses "address/bits" with bits below 32 (IPv4) or 128 (IPv6), as
/// EventBridge requires; on failure sets `error` and returns nullopt.
std::optional<cidr_block> parse_cidr(std::string_view s, std::string& error);

/// Clears every bit of `a` after the first `bits`.
void mask_address(ip_address& a, unsigned bits);

/// A byte string that identifies the address and its family, for hashing.
std::string address_key(const ip_address& a);

} // namespace troupe::rules::detail
