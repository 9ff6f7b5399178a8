#include "rules/ip.hpp"

namespace troupe::rules::detail {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<ip_address> parse_ipv4(std::string_view s) {
  ip_address a;
  a.family = 4;
  std::size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i >= s.size() || s[i] != '.')
        return std::nullopt;
      ++i;
    }
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    const std::size_t len = i - start;
    // Leading zeros are refused: "010" reads as octal in some stacks.
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0'))
      return std::nullopt;
    a.bytes[static_cast<std::size_t>(octet)] = static_cast<std::uint8_t>(value);
  }
  if (i != s.size())
    return std::nullopt;
  return a;
}

std::optional<ip_address> parse_ipv6(std::string_view s) {
  if (s.size() < 2 || s.size() > 39)
    return std::nullopt;
  std::uint16_t head[8], tail[8];
  int nhead = 0, ntail = 0;
  bool gap = false;
  std::size_t i = 0;
  if (s[0] == ':') {
    if (s[1] != ':')
      return std::nullopt;
    gap = true;
    i = 2;
  }
  while (i < s.size()) {
    unsigned value = 0;
    std::size_t digits = 0;
    while (i < s.size() && digits < 4) {
      const int h = hex_value(s[i]);
      if (h < 0)
        break;
      value = value * 16 + static_cast<unsigned>(h);
      ++digits;
      ++i;
    }
    if (digits == 0)
      return std::nullopt;
    std::uint16_t* groups = gap ? tail : head;
    int& n = gap ? ntail : nhead;
    if (nhead + ntail >= 8)
      return std::nullopt;
    groups[n++] = static_cast<std::uint16_t>(value);
    if (i == s.size())
      break;
    if (s[i] != ':')
      return std::nullopt;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap)
        return std::nullopt;
      gap = true;
      ++i;
      if (i == s.size())
        break;
    } else if (i == s.size()) {
      return std::nullopt;  // a single trailing ':'
    }
  }
  if (gap ? nhead + ntail > 7 : nhead != 8)
    return std::nullopt;
  ip_address a;
  a.family = 6;
  for (int k = 0; k < nhead; ++k) {
    a.bytes[static_cast<std::size_t>(2 * k)] = static_cast<std::uint8_t>(head[k] >> 8);
    a.bytes[static_cast<std::size_t>(2 * k + 1)] = static_cast<std::uint8_t>(head[k] & 0xFF);
  }
  for (int k = 0; k < ntail; ++k) {
    const int g = 8 - ntail + k;
    a.bytes[static_cast<std::size_t>(2 * g)] = static_cast<std::uint8_t>(tail[k] >> 8);
    a.bytes[static_cast<std::size_t>(2 * g + 1)] = static_cast<std::uint8_t>(tail[k] & 0xFF);
  }
  // ::ffff:a.b.c.d is the IPv4 address itself (RFC 4291 2.5.5.2).
  bool mapped = a.bytes[10] == 0xFF && a.bytes[11] == 0xFF;
  for (std::size_t k = 0; k < 10 && mapped; ++k)
    mapped = a.bytes[k] == 0;
  if (mapped) {
    ip_address v4;
    v4.family = 4;
    for (std::size_t k = 0; k < 4; ++k)
      v4.bytes[k] = a.bytes[12 + k];
    return v4;
  }
  return a;
}

} // namespace

std::optional<ip_address> parse_ip(std::string_view s) {
  if (s.empty() || s.size() > 39)
    return std::nullopt;
  // Cheap rejection first: most strings reaching here are not addresses.
  if (hex_value(s[0]) < 0 && s[0] != ':')
    return std::nullopt;
  if (s.find(':') == std::string_view::npos)
    return parse_ipv4(s);
  return parse_ipv6(s);
}

void mask_address(ip_address& a, unsigned bits) {
  const std::size_t n = a.size();
  for (std::size_t k = 0; k < n; ++k) {
    const unsigned start = static_cast<unsigned>(k) * 8;
    if (bits >= start + 8)
      continue;
    if (bits <= start) {
      a.bytes[k] = 0;
    } else {
      const unsigned keep = bits - start;
      a.bytes[k] &= static_cast<std::uint8_t>(0xFF << (8 - keep));
    }
  }
}

std::optional<cidr_block> parse_cidr(std::string_view s, std::string& error) {
  const auto slash = s.find('/');
  if (slash == std::string_view::npos) {
    error = "a CIDR block needs a /prefix-length, as 10.0.0.0/24";
    return std::nullopt;
  }
  const auto addr_text = s.substr(0, slash);
  const auto bits_text = s.substr(slash + 1);
  auto addr = parse_ip(addr_text);
  if (!addr) {
    error = "\"" + std::string(addr_text) + "\" is not an IPv4 or IPv6 address";
    return std::nullopt;
  }
  if (bits_text.empty() || bits_text.size() > 3) {
    error = "prefix length \"" + std::string(bits_text) + "\" is not a number";
    return std::nullopt;
  }
  unsigned bits = 0;
  for (char c : bits_text) {
    if (c < '0' || c > '9') {
      error = "prefix length \"" + std::string(bits_text) + "\" is not a number";
      return std::nullopt;
    }
    bits = bits * 10 + static_cast<unsigned>(c - '0');
  }
  // EventBridge refuses /32 and /128; write the address itself instead.
  const unsigned limit = addr->family == 4 ? 32 : 128;
  if (bits >= limit) {
    error = "prefix length " + std::to_string(bits) + " must be below " + std::to_string(limit) +
            " (match a single address with the address itself)";
    return std::nullopt;
  }
  cidr_block block;
  block.network = *addr;
  block.bits = bits;
  mask_address(block.network, bits);
  return block;
}

std::string address_key(const ip_address& a) {
  std::string key;
  key.push_back(static_cast<char>(a.family));
  key.append(reinterpret_cast<const char*>(a.bytes.data()), a.size());
  return key;
}

} // namespace troupe::rules::detail
