#include "cluster/bind_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <filesystem>

namespace troupe::cluster {

namespace {

// A socket path is copied into sockaddr_un::sun_path with its NUL.
constexpr std::size_t max_socket_path = sizeof(sockaddr_un{}.sun_path) - 1;
constexpr std::size_t max_host_name = 253;  // as DNS allows

std::string not_an_endpoint(const std::string& e) {
  return "'" + e + "' is not tcp://HOST:PORT (port 1-65535) or ipc://PATH";
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

std::optional<int> port_of(const std::string& s) {
  if (s.empty() || s.size() > 5)
    return std::nullopt;
  int port = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535)
    return std::nullopt;
  return port;
}

std::string ntop(int family, const void* addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr, buf, sizeof buf);
  return buf;
}

// The addresses a tcp host binds; false when it is no host.
bool read_host(std::string host, bind_address& a) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6) != 1)
      return false;
    if (IN6_IS_ADDR_UNSPECIFIED(&v6))
      a.every = true;
    else if (IN6_IS_ADDR_V4MAPPED(&v6))
      a.hosts.push_back(ntop(AF_INET, &v6.s6_addr[12]));
    else
      a.hosts.push_back(ntop(AF_INET6, &v6));
    return true;
  }
  if (host.empty() || host.size() > max_host_name)
    return false;
  for (char& c : host) {
    if (!name_char(c))
      return false;
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  // libzmq reads a numeric host as getaddrinfo does, with inet_aton's
  // forms: 127.1 is 127.0.0.1.
  in_addr v4{};
  if (inet_aton(host.c_str(), &v4) != 0) {
    if (v4.s_addr == htonl(INADDR_ANY))
      a.every = true;
    else
      a.hosts.push_back(ntop(AF_INET, &v4));
    return true;
  }
  if (host.back() == '.')
    host.pop_back();
  if (host == "localhost")
    a.hosts = {"127.0.0.1", "::1"};
  else
    a.hosts.push_back(host);
  return true;
}

std::optional<bind_address> read_tcp(const std::string& e, std::string& why) {
  bind_address a;
  a.text = e;
  const std::string rest = e.substr(6);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) {
    why = not_an_endpoint(e);
    return std::nullopt;
  }
  const auto host = rest.substr(0, colon);
  const auto port = port_of(rest.substr(colon + 1));
  if (host == "*" && port) {
    why = "'" + e + "': other nodes connect to this endpoint and cannot connect to '*'; tcp://0.0.0.0:"
          + std::to_string(*port) + " binds every address";
    return std::nullopt;
  }
  if (!port || !read_host(host, a)) {
    why = not_an_endpoint(e);
    return std::nullopt;
  }
  a.port = *port;
  return a;
}

std::optional<bind_address> read_ipc(const std::string& e, std::string& why) {
  bind_address a;
  a.kind = bind_address::transport::ipc;
  a.text = e;
  const std::string path = e.substr(6);
  if (path.empty()) {
    why = not_an_endpoint(e);
    return std::nullopt;
  }
  if (path.size() > max_socket_path) {
    why = "'" + e + "': the path is " + std::to_string(path.size()) + " bytes, and a Unix socket path holds at most "
          + std::to_string(max_socket_path);
    return std::nullopt;
  }
  if (path == "*")
    return a;
  if (path[0] == '@') {  // Linux's abstract namespace: a name, not a file
    a.path = path;
    return a;
  }
  a.path = std::filesystem::path(path).lexically_normal().string();
  if (a.path.size() > 1 && a.path.back() == '/')
    a.path.pop_back();
  return a;
}

} // namespace

std::optional<bind_address> parse_bind_address(const std::string& endpoint, std::string& why) {
  if (endpoint.rfind("tcp://", 0) == 0)
    return read_tcp(endpoint, why);
  if (endpoint.rfind("ipc://", 0) == 0)
    return read_ipc(endpoint, why);
  why = not_an_endpoint(endpoint);
  return std::nullopt;
}

std::optional<bind_table::conflict> bind_table::claim(const bind_address& a, const std::string& owner) {
  const entry mine{owner, a.text};
  if (a.kind == bind_address::transport::ipc) {
    if (a.path.empty())
      return std::nullopt;
    auto [it, fresh] = ipc_.emplace(a.path, mine);
    if (!fresh)
      return conflict{it->second.owner, it->second.text, "both are the socket " + a.path};
    return std::nullopt;
  }
  const auto port = " port " + std::to_string(a.port);
  auto& p = tcp_[a.port];
  if (p.every)
    return conflict{p.every->owner, p.every->text, "both bind" + port + ", and '" + p.every->text
                                                       + "' binds every address"};
  if (a.every) {
    if (!p.hosts.empty()) {
      const auto& first = p.hosts.begin()->second;
      return conflict{first.owner, first.text, "both bind" + port + ", and '" + a.text + "' binds every address"};
    }
    p.every = mine;
    return std::nullopt;
  }
  for (const auto& h : a.hosts)
    if (auto it = p.hosts.find(h); it != p.hosts.end())
      return conflict{it->second.owner, it->second.text, "both bind " + h + port};
  for (const auto& h : a.hosts)
    p.hosts.emplace(h, mine);
  return std::nullopt;
}

} // namespace troupe::cluster
