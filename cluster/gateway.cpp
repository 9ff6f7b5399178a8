#include "cluster/gateway.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>

#include "cluster/access_fields.hpp"
#include "cluster/config.hpp"
#include "wire/security.hpp"

namespace troupe::cluster {

using namespace fields;

namespace {

// AWS's access key ids are 16 to 128 word characters; the ones it makes
// are upper-case letters and digits.
bool access_key_id(const std::string& s) {
  return s.size() >= 16 && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

bool region_name(const std::string& s) {
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

bool account_id(const std::string& s) {
  return s.size() == 12 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
}

std::vector<access_key> read_access_keys(const YAML::Node& keys, const config& cfg, diagnostics& diag) {
  std::vector<access_key> out;
  if (!keys)
    return out;
  if (!keys.IsMap() || keys.size() == 0) {
    diag.add(keys, "gateway.access-keys: must be a map from access key id to its secret and roles");
    return out;
  }
  for (const auto& kv : keys) {
    access_key k;
    k.id = kv.first.Scalar();
    const auto where = "gateway.access-keys." + k.id;
    if (!access_key_id(k.id))
      diag.add(kv.first, where + ": an access key id is 16 to 128 letters, digits or '_' (as AKIAIOSFODNN7EXAMPLE)");
    if (!kv.second.IsMap()) {
      diag.add(kv.second, where + ": must be a map with 'secret-key-file' (or 'secret-key-env') and 'roles'");
      continue;
    }
    unknown_keys(kv.second, {"secret-key-file", "secret-key-env", "secret-key", "roles", "sources"}, where, diag);
    k.secret = read_secret_source(kv.second, where, cfg.dir, diag);
    if (k.secret.empty() && !kv.second["secret-key"])
      diag.add(kv.second, where + ": missing 'secret-key-file' (or 'secret-key-env'): where its secret access key is");
    k.roles = read_roles(kv.second, where, diag);
    if (auto s = strings_at(kv.second, "sources", where, diag)) {
      k.sources = *s;
      if (!k.has(producer))
        diag.add(kv.second["sources"], where + ".sources: only a producer puts events; this key is not one");
    }
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace

const access_key* gateway_spec::find_key(const std::string& id) const {
  for (const auto& k : access_keys)
    if (k.id == id)
      return &k;
  return nullptr;
}

std::optional<listen_address> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size() || text.size() - colon > 6)
    return std::nullopt;
  const auto port_text = text.substr(colon + 1);
  if (!std::all_of(port_text.begin(), port_text.end(), [](unsigned char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  listen_address a;
  a.port = std::atoi(port_text.c_str());
  if (a.port < 1 || a.port > 65535)
    return std::nullopt;
  a.host = text.substr(0, colon);
  unsigned char buf[16];
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
    if (inet_pton(AF_INET6, a.host.c_str(), buf) != 1)
      return std::nullopt;
    a.loopback = a.host == "::1";
    return a;
  }
  if (inet_pton(AF_INET, a.host.c_str(), buf) != 1)
    return std::nullopt;
  a.loopback = buf[0] == 127;
  return a;
}

std::optional<gateway_spec> read_gateway(const YAML::Node& gw, const config& cfg, diagnostics& diag) {
  if (!gw || gw.IsNull())
    return std::nullopt;
  if (!gw.IsMap()) {
    diag.add(gw, "gateway: must be a map with 'listen', 'ingress' and 'access-keys'");
    return std::nullopt;
  }
  unknown_keys(gw, {"listen", "ingress", "client", "region", "account", "access-keys", "unsigned"}, "gateway", diag);
  gateway_spec g;
  if (auto l = string_at(gw, "listen", "gateway", diag)) {
    g.listen = *l;
    if (!parse_listen(g.listen))
      diag.add(gw["listen"], "gateway.listen: '" + printable(g.listen) + "' is not ADDRESS:PORT with an IP address "
                             "(as 127.0.0.1:8088, 0.0.0.0:8088 or [::1]:8088) and a port from 1 to 65535");
  }
  if (auto i = string_at(gw, "ingress", "gateway", diag)) {
    g.ingress = *i;
    if (!cfg.find_node(g.ingress))
      diag.add(gw["ingress"], "gateway.ingress: no node is named '" + printable(g.ingress) + "'");
  } else if (!gw["ingress"]) {
    diag.add(gw, "gateway: missing 'ingress': the node that PutEvents go to");
  }
  if (auto r = string_at(gw, "region", "gateway", diag)) {
    g.region = *r;
    if (!region_name(g.region))
      diag.add(gw["region"], "gateway.region: a region is lower-case letters, digits and '-' (as us-east-1)");
  }
  if (auto a = string_at(gw, "account", "gateway", diag)) {
    g.account = *a;
    if (!account_id(g.account))
      diag.add(gw["account"], "gateway.account: an account id is 12 digits (quote it: \"000000000000\")");
  }
  if (const YAML::Node u = gw["unsigned"]) {
    if (!u.IsScalar() || (u.Scalar() != "true" && u.Scalar() != "false"))
      diag.add(u, "gateway.unsigned: must be true or false");
    else
      g.allow_unsigned = u.Scalar() == "true";
  }
  g.access_keys = read_access_keys(gw["access-keys"], cfg, diag);

  const auto listen = parse_listen(g.listen);
  if (g.allow_unsigned && listen && !listen->loopback)
    diag.add(gw["unsigned"], "gateway.unsigned: requests without a signature are taken only on loopback, and the "
                             "gateway listens on " + g.listen + "; sign them (access-keys) or listen on 127.0.0.1");
  if (!g.allow_unsigned && g.access_keys.empty() && !gw["access-keys"])
    diag.add(gw, "gateway: no 'access-keys': no request could be signed; list access keys (or, on loopback only, "
                 "say 'unsigned: true')");

  // The gateway speaks to the nodes as one client of the config, whose
  // roles and sources bound every access key's.
  if (auto c = string_at(gw, "client", "gateway", diag)) {
    g.client = *c;
    const auto* client = cfg.find_client(g.client);
    if (!cfg.secure())
      diag.add(gw["client"], "gateway.client: the cluster has no keys, so the gateway speaks to it as anyone; "
                             "remove 'client'");
    else if (!client)
      diag.add(gw["client"], "gateway.client: no client is named '" + printable(g.client) + "' under 'clients'");
    else {
      if (!client->has(producer))
        diag.add(gw["client"], "gateway.client: '" + g.client + "' is not a producer, so it could put no event");
      for (const auto& k : g.access_keys) {
        const YAML::Node at = gw["access-keys"][k.id];
        for (auto r : {producer, reader, operator_})
          if (k.has(r) && r != reader && !client->has(r))
            diag.add(at["roles"], "gateway.access-keys." + k.id + ".roles: '" + role_name(r) + "', which the "
                                  "gateway's client '" + g.client + "' does not have");
        if (k.has(producer) && !client->sources.empty())
          for (const auto& s : k.sources.empty() ? std::vector<std::string>{"(any source)"} : k.sources)
            if (std::find(client->sources.begin(), client->sources.end(), s) == client->sources.end())
              diag.add(k.sources.empty() ? at : at["sources"],
                       "gateway.access-keys." + k.id + ": may put source " + s + ", which the gateway's client '"
                           + g.client + "' may not (its sources: " + [&] {
                               std::string l;
                               for (const auto& x : client->sources)
                                 l += (l.empty() ? "" : ", ") + x;
                               return l;
                             }() + ")");
      }
    }
  } else if (cfg.secure() && !gw["client"]) {
    diag.add(gw, "gateway: missing 'client': the client of 'clients' (a producer) that the gateway speaks to the "
                 "nodes as");
  }
  return g;
}

result<std::string> secret_access_key(const secret_key_source& src) {
  std::string key;
  if (!src.env.empty()) {
    const char* v = std::getenv(src.env.c_str());
    if (!v || !*v)
      return error{wire::errc::io, "the environment variable " + src.env + " that should hold the secret access key "
                                   "is not set"};
    key = v;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
      key.pop_back();
  } else if (!src.file.empty()) {
    auto line = wire::read_secret_line(src.file, "the secret access key");
    if (!line)
      return line;
    key = std::move(*line);
  } else {
    return error{wire::errc::io, "no secret access key is named (secret-key-file or secret-key-env)"};
  }
  const bool printable_ascii =
      std::all_of(key.begin(), key.end(), [](unsigned char c) { return c > ' ' && c < 0x7f; });
  if (key.size() < 16 || key.size() > 128 || !printable_ascii)
    return error{wire::errc::invalid_field, src.describe() + " does not hold a secret access key (16 to 128 printable "
                                            "characters on its first line, as `troupe keygen --config` writes)"};
  return key;
}

std::string bus_arn(const gateway_spec& g, const std::string& cluster) {
  return "arn:aws:events:" + g.region + ":" + g.account + ":event-bus/" + cluster;
}

std::string rule_arn(const gateway_spec& g, const std::string& cluster, const std::string& rule) {
  return "arn:aws:events:" + g.region + ":" + g.account + ":rule/" + cluster + "/" + rule;
}

std::string service_arn(const gateway_spec& g, const std::string& cluster, const std::string& service) {
  return "arn:aws:troupe:" + g.region + ":" + g.account + ":service/" + cluster + "/" + service;
}

} // namespace troupe::cluster
