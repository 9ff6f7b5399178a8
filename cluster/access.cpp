#include "cluster/access.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "cluster/access_fields.hpp"
#include "cluster/bind_address.hpp"
#include "cluster/config.hpp"
#include "wire/security.hpp"

namespace troupe::cluster {

namespace fs = std::filesystem;

namespace fields {

const role all_roles[] = {producer, reader, operator_};

/// A non-empty string scalar at `key` of `map`, or nullopt (and a problem
/// when it is there but is not one).
std::optional<std::string> string_at(const YAML::Node& map, const char* key, const std::string& where,
                                     diagnostics& diag) {
  const YAML::Node n = map[key];
  if (!n)
    return std::nullopt;
  if (!n.IsScalar() || n.Scalar().empty()) {
    diag.add(n, where + "." + key + ": must be a non-empty string");
    return std::nullopt;
  }
  return n.Scalar();
}

/// A list of non-empty strings at `key`, or nullopt when absent.
std::optional<std::vector<std::string>> strings_at(const YAML::Node& map, const char* key, const std::string& where,
                                                   diagnostics& diag) {
  const YAML::Node n = map[key];
  if (!n)
    return std::nullopt;
  if (!n.IsSequence() || n.size() == 0) {
    diag.add(n, where + "." + key + ": must be a non-empty list of strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& s : n) {
    if (!s.IsScalar() || s.Scalar().empty())
      diag.add(s, where + "." + key + ": must be a non-empty list of strings");
    else
      out.push_back(s.Scalar());
  }
  return out;
}

/// The public key written in the config (`public-key`) or in the file it
/// names (`public-key-file`, as `troupe keygen` writes it).
std::string read_public_key(const YAML::Node& map, const std::string& where, const fs::path& dir,
                            diagnostics& diag) {
  auto key = string_at(map, "public-key", where, diag);
  const char* field = "public-key";
  if (auto file = string_at(map, "public-key-file", where, diag)) {
    field = "public-key-file";
    if (key) {
      diag.add(map["public-key-file"], where + ": give 'public-key' or 'public-key-file', not both");
      return {};
    }
    const auto path = fs::absolute(dir / *file).lexically_normal();
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) {
      diag.add(map["public-key-file"], where + ".public-key-file: cannot read " + path.string()
                                           + " (make the missing keys with `troupe keygen --config <this file>`)");
      return {};
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    key = line;
  }
  if (key && !wire::is_z85_key(*key)) {
    diag.add(map[field], where + "." + field + ": not a CURVE public key (40 characters of Z85, as "
                                               "`troupe keygen` writes)");
    return {};
  }
  return key.value_or("");
}

secret_key_source read_secret_source(const YAML::Node& map, const std::string& where, const fs::path& dir,
                                     diagnostics& diag) {
  secret_key_source src;
  if (auto f = string_at(map, "secret-key-file", where, diag))
    src.file = fs::absolute(dir / *f).lexically_normal();
  if (auto e = string_at(map, "secret-key-env", where, diag))
    src.env = *e;
  if (!src.file.empty() && !src.env.empty())
    diag.add(map["secret-key-env"], where + ": give 'secret-key-file' or 'secret-key-env', not both");
  if (const YAML::Node s = map["secret-key"])
    diag.add(s, where + ".secret-key: a secret key is never written in the config; name its file "
                        "('secret-key-file') or an environment variable ('secret-key-env')");
  return src;
}

void unknown_keys(const YAML::Node& map, const std::set<std::string>& allowed, const std::string& where,
                  diagnostics& diag) {
  for (const auto& kv : map)
    if (!allowed.count(kv.first.Scalar())) {
      std::string list;
      for (const auto& a : allowed)
        list += (list.empty() ? "" : ", ") + a;
      diag.add(kv.first, where + ": unknown key '" + kv.first.Scalar() + "' (expected one of: " + list + ")");
    }
}

unsigned read_roles(const YAML::Node& c, const std::string& where, diagnostics& diag) {
  unsigned roles = 0;
  const auto names = strings_at(c, "roles", where, diag);
  if (!names) {
    if (!c["roles"])
      diag.add(c, where + ": missing 'roles' (producer, reader, operator)");
    return 0;
  }
  for (std::size_t i = 0; i < names->size(); ++i) {
    bool known = false;
    for (auto r : all_roles)
      if ((*names)[i] == role_name(r)) {
        roles |= r;
        known = true;
      }
    if (!known)
      diag.add(c["roles"][i], where + ".roles: '" + (*names)[i] + "' is not a role (producer, reader, operator)");
  }
  return roles;
}

/// Whether every address `endpoint` binds is loopback, or it is ipc.
bool local_only(const std::string& endpoint) {
  if (endpoint.rfind("tcp://*:", 0) == 0)  // a host's `bind: "*"`
    return false;
  std::string why;
  const auto a = parse_bind_address(endpoint, why);
  if (!a)
    return true;  // reported where the endpoint is read
  if (a->kind == bind_address::transport::ipc)
    return true;
  if (a->every || a->hosts.empty())
    return false;
  // Hosts are canonical addresses or names: only an address is known to
  // be loopback (127.0.0.1.example.com is a name).
  for (const auto& h : a->hosts) {
    in_addr v4{};
    if (h != "::1" && !(::inet_pton(AF_INET, h.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127))
      return false;
  }
  return true;
}

/// Where an entry's public key is written, for a problem's position.
YAML::Node key_field(const YAML::Node& map) {
  if (const YAML::Node k = map["public-key"])
    return k;
  if (const YAML::Node k = map["public-key-file"])
    return k;
  return map;
}

} // namespace fields

using namespace fields;

const char* role_name(role r) {
  switch (r) {
    case producer: return "producer";
    case reader: return "reader";
    case operator_: return "operator";
  }
  return "?";
}

std::string secret_key_source::describe() const {
  return !file.empty() ? file.string() : !env.empty() ? "$" + env : std::string("nowhere");
}

node_access read_node_access(const YAML::Node& n, const std::string& where, const fs::path& dir,
                             diagnostics& diag) {
  node_access a;
  a.public_key = read_public_key(n, where, dir, diag);
  a.secret = read_secret_source(n, where, dir, diag);
  a.emits = strings_at(n, "emits", where, diag);
  const bool named = n["public-key"] || n["public-key-file"];
  if (named && a.secret.empty())
    diag.add(n, where + ": a node with a public key needs 'secret-key-file' or 'secret-key-env'");
  if (!named && !a.secret.empty())
    diag.add(n, where + ": a secret key without 'public-key' (or 'public-key-file')");
  return a;
}

std::vector<client_spec> read_clients(const YAML::Node& clients, const fs::path& dir, diagnostics& diag) {
  std::vector<client_spec> out;
  if (!clients || clients.IsNull())
    return out;
  if (!clients.IsMap()) {
    diag.add(clients, "clients: must be a map from client name to its key and roles");
    return out;
  }
  for (const auto& kv : clients) {
    client_spec c;
    c.name = kv.first.Scalar();
    const auto where = "clients." + c.name;
    if (!kv.second.IsMap()) {
      diag.add(kv.second, where + ": must be a map with 'public-key' and 'roles'");
      continue;
    }
    unknown_keys(kv.second,
                 {"public-key", "public-key-file", "secret-key-file", "secret-key-env", "secret-key", "roles", "sources"},
                 where, diag);
    c.public_key = read_public_key(kv.second, where, dir, diag);
    if (!kv.second["public-key"] && !kv.second["public-key-file"])
      diag.add(kv.second, where + ": missing 'public-key' (or 'public-key-file')");
    c.secret = read_secret_source(kv.second, where, dir, diag);
    c.roles = read_roles(kv.second, where, diag);
    if (auto s = strings_at(kv.second, "sources", where, diag)) {
      c.sources = *s;
      if (!c.has(producer))
        diag.add(kv.second["sources"], where + ".sources: only a producer puts events; this client is not one");
    }
    out.push_back(std::move(c));
  }
  return out;
}

void check_access(const YAML::Node& root, const config& cfg, diagnostics& diag) {
  // A node whose key was written but is wrong is reported where it is
  // read, and counts as keyed here.
  const YAML::Node nodes = root["nodes"];
  const auto has_key = [&](const node_spec& n) {
    return !n.public_key.empty() || nodes[n.name]["public-key"] || nodes[n.name]["public-key-file"];
  };
  const auto keyed = static_cast<std::size_t>(std::count_if(cfg.nodes.begin(), cfg.nodes.end(), has_key));
  if (keyed && keyed < cfg.nodes.size()) {
    for (const auto& n : cfg.nodes)
      if (!has_key(n))
        diag.add(nodes[n.name], "nodes." + n.name + ": every node needs a 'public-key' once one has: without "
                                "it, its peers could not authenticate it");
    return;
  }
  if (!keyed && !cfg.clients.empty())
    diag.add(root["clients"], "clients: the nodes have no keys, so no client could be told apart; give every "
                              "node a 'public-key' (troupe keygen)");
  std::map<std::string, std::string> key_owner;  // public key → "nodes.x" / "clients.y"
  const auto claim = [&](const std::string& key, const std::string& owner, const YAML::Node& at) {
    if (key.empty())
      return;
    auto [it, fresh] = key_owner.emplace(key, owner);
    if (!fresh)
      diag.add(at, owner + ": the same public key as " + it->second + "; each needs its own");
  };
  for (const auto& n : cfg.nodes)
    claim(n.public_key, "nodes." + n.name, key_field(nodes[n.name]));
  for (const auto& c : cfg.clients) {
    const YAML::Node at = root["clients"][c.name];
    if (cfg.find_node(c.name))
      diag.add(at, "clients." + c.name + ": a node has this name; a client needs a name of its own");
    claim(c.public_key, "clients." + c.name, key_field(at));
  }
  if (keyed)
    return;
  for (const auto& n : cfg.nodes) {
    const char* form = nodes[n.name]["ports"] ? "ports" : "endpoints";
    for (const auto& [key, ep] :
         {std::pair<const char*, const std::string&>{"pub", n.pub_bind}, {"control", n.control_bind}})
      if (!ep.empty() && !local_only(ep))
        diag.add(nodes[n.name][form][key],
                 "nodes." + n.name + "." + form + "." + key + ": '" + ep + "' is reachable from other machines, and "
                 "the cluster has no keys: anyone who reaches it could put, read and manage events. Give every "
                 "node a key pair (troupe keygen) or bind loopback only");
  }
}

std::optional<std::string> open_cluster_warning(const config& cfg) {
  if (cfg.secure())
    return std::nullopt;
  return "the cluster '" + cfg.cluster + "' is OPEN: its nodes have no keys, so any process on this machine can "
         "put events, read every node's outbox and manage its dead letters. Give every node a key pair "
         "(`troupe keygen`) and list it in the config";
}

result<std::string> secret_key(const secret_key_source& src) {
  if (!src.env.empty()) {
    const char* v = std::getenv(src.env.c_str());
    if (!v || !*v)
      return error{wire::errc::io, "the environment variable " + src.env + " that should hold the secret key is "
                                   "not set"};
    std::string key(v);
    // As in a key file: a Secret made with `kubectl create secret
    // --from-file` keeps the file's line end.
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
      key.pop_back();
    if (!wire::is_z85_key(key))
      return error{wire::errc::invalid_field, "$" + src.env + " does not hold a CURVE secret key (40 characters of "
                                              "Z85)"};
    return key;
  }
  if (src.file.empty())
    return error{wire::errc::io, "no secret key is named (secret-key-file or secret-key-env)"};
  return wire::read_secret_key(src.file);
}

} // namespace troupe::cluster
