#include "cluster/hosts.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <set>

#include <yaml-cpp/yaml.h>

#include "cluster/scalars.hpp"

namespace troupe::cluster {

namespace {

bool ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

/// RFC 1123 host name: dot-separated labels of letters, digits and '-',
/// 1 to 63 long, neither starting nor ending with '-', 253 at most in all;
/// the last label is not all digits (that would be a mistyped address).
bool dns_name(std::string s) {
  if (!s.empty() && s.back() == '.')
    s.pop_back();
  if (s.empty() || s.size() > 253)
    return false;
  std::size_t start = 0;
  bool all_digits = true;
  for (;;) {
    const auto dot = s.find('.', start);
    const auto label = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    all_digits = true;
    for (char c : label) {
      const bool digit = c >= '0' && c <= '9';
      all_digits = all_digits && digit;
      if (!digit && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '-')
        return false;
    }
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return !all_digits;
}

std::string canonical(const std::string& ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (in_addr a{}; inet_pton(AF_INET, ip.c_str(), &a) == 1)
    return inet_ntop(AF_INET, &a, buf, sizeof buf);
  if (in6_addr a{}; inet_pton(AF_INET6, ip.c_str(), &a) == 1)
    return inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return ip;
}

bool unspecified(const std::string& ip) { return canonical(ip) == "0.0.0.0" || canonical(ip) == "::"; }

} // namespace

std::vector<host_spec> read_hosts(const YAML::Node& hosts, diagnostics& diag) {
  std::vector<host_spec> out;
  if (!hosts.IsDefined() || hosts.IsNull())
    return out;
  if (!hosts.IsMap() || hosts.size() == 0) {
    diag.add(hosts, "hosts: must be a map from host name to its address, e.g. `alpha: {address: 198.18.0.1}`");
    return out;
  }
  std::set<std::string> addresses;
  for (const auto& kv : hosts) {
    host_spec h;
    h.name = kv.first.Scalar();
    const auto where = "hosts." + h.name;
    if (!node_name(h.name))
      diag.add(kv.first, where + ": a host name is 1 to 32 of a-z, 0-9, '_', '-', starting with a letter");
    // `alpha: 198.18.0.1` is short for `alpha: {address: 198.18.0.1}`.
    YAML::Node address_node;
    YAML::Node bind_node;
    bool has_address = false, has_bind = false;
    if (kv.second.IsScalar()) {
      address_node.reset(kv.second);
      has_address = true;
    } else if (kv.second.IsMap()) {
      for (const auto& f : kv.second) {
        const auto key = f.first.Scalar();
        if (key == "address") {
          address_node.reset(f.second);
          has_address = true;
        } else if (key == "bind") {
          bind_node.reset(f.second);
          has_bind = true;
        }
        else
          diag.add(f.first, where + ": unknown key '" + key + "' (expected one of: address, bind)");
      }
      if (!has_address) {
        diag.add(kv.second, where + ": missing 'address'");
        continue;
      }
    } else {
      diag.add(kv.second, where + ": must be an address, or a map with 'address' and optionally 'bind'");
      continue;
    }
    if (!address_node.IsScalar() || address_node.Scalar().empty()) {
      diag.add(address_node, where + ".address: must be an IP address or a DNS name");
      continue;
    }
    h.address = address_node.Scalar();
    h.line = address_node.Mark().line + 1;
    h.column = address_node.Mark().column + 1;
    if (h.address.size() > 2 && h.address.front() == '[' && h.address.back() == ']')
      h.address = h.address.substr(1, h.address.size() - 2);
    if (ipv4(h.address) || ipv6(h.address)) {
      if (unspecified(h.address)) {
        diag.add(address_node, where + ".address: '" + h.address
                                   + "' is no address a peer can dial; to bind every address, say `bind: \"*\"`");
        continue;
      }
      h.bind = h.address;
    } else if (dns_name(h.address)) {
      h.dns_name = true;
      h.bind = "*";
    } else {
      diag.add(address_node, where + ".address: '" + printable(h.address) + "' is neither an IP address nor a DNS name");
      continue;
    }
    if (!addresses.insert(h.dns_name ? h.address : canonical(h.address)).second)
      diag.add(address_node, where + ".address: another host has the address '" + h.address + "'");
    if (has_bind) {
      const auto b = bind_node.IsScalar() ? bind_node.Scalar() : std::string();
      if (b == "*" || ipv4(b) || ipv6(b))
        h.bind = unspecified(b) ? "*" : b;
      else
        diag.add(bind_node, where + ".bind: must be an IP address of the host, or \"*\" for every address "
                                    "(a name cannot be bound)");
    }
    out.push_back(std::move(h));
  }
  return out;
}

std::string tcp_endpoint(const std::string& address, int port) {
  const bool v6 = address.find(':') != std::string::npos;
  return "tcp://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

std::string host_port(const std::string& address, int port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

bind_address bind_of(const host_spec& h, int port) {
  bind_address a;
  a.port = port;
  if (h.bind == "*") {
    a.every = true;
    a.text = "tcp://*:" + std::to_string(port);
  } else {
    a.hosts.push_back(canonical(h.bind));
    a.text = tcp_endpoint(h.bind, port);
  }
  return a;
}

std::vector<std::string> unresolved_hosts(const std::vector<host_spec>& hosts, const std::string& file) {
  std::vector<std::string> out;
  for (const auto& h : hosts) {
    if (!h.dns_name)
      continue;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(h.address.c_str(), nullptr, &hints, &res);
    if (res)
      freeaddrinfo(res);
    if (rc != 0)
      out.push_back(file + ":" + std::to_string(h.line) + ":" + std::to_string(h.column) + ": warning: hosts." + h.name
                    + ".address: '" + h.address + "' does not resolve here (" + gai_strerror(rc)
                    + "); its peers look it up again each time they connect");
  }
  return out;
}

} // namespace troupe::cluster
