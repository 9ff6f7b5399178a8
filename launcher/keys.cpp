#include "launcher/keys.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "cluster/gateway.hpp"
#include "launcher/common.hpp"
#include "wire/security.hpp"

namespace troupe::cli {

namespace fs = std::filesystem;

namespace {

std::string& chosen_client() {
  static std::string name;
  return name;
}

/// The client to speak as for role `r`: the one named, or the first with
/// the role whose secret key can be read here.
result<std::pair<const cluster::client_spec*, std::string>> pick_client(const cluster::config& cfg, cluster::role r) {
  std::string named = chosen_client();
  if (named.empty())
    if (const char* env = std::getenv("TROUPE_CLIENT"))
      named = env;
  if (!named.empty()) {
    const auto* c = cfg.find_client(named);
    if (!c)
      return error{errc::no_key, "no client '" + named + "' in " + cfg.file};
    auto secret = cluster::secret_key(c->secret);
    if (!secret)
      return error{errc::no_key, "client '" + named + "': " + secret.err().message};
    return std::pair<const cluster::client_spec*, std::string>{c, *secret};
  }
  std::string tried;
  for (const auto& c : cfg.clients) {
    if (!c.has(r) || c.secret.empty())
      continue;
    auto secret = cluster::secret_key(c.secret);
    if (secret)
      return std::pair<const cluster::client_spec*, std::string>{&c, *secret};
    tried += "\n  client '" + c.name + "': " + secret.err().message;
  }
  return error{errc::no_key, std::string("no client of ") + cfg.file + " with the role '" + cluster::role_name(r)
                                 + "' has a secret key this user can read" + (tried.empty() ? "" : ":" + tried)
                                 + "\n  name one with --client NAME (or TROUPE_CLIENT), whose secret-key-file "
                                   "or secret-key-env this user can read"};
}

bool file_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

} // namespace

void use_client(std::string name) { chosen_client() = std::move(name); }

result<std::unique_ptr<wire::client>> connect(const cluster::config& cfg, const cluster::node_spec& node,
                                              cluster::role r) {
  if (!cfg.secure())
    return std::make_unique<wire::client>(node.control);
  auto who = pick_client(cfg, r);
  if (!who)
    return who.err();
  auto pub = wire::public_of(who->second);
  if (!pub || *pub != who->first->public_key)
    return error{errc::no_key, "client '" + who->first->name + "': the secret key in "
                                   + who->first->secret.describe() + " is not the one of its public key"};
  wire::curve_client creds{{*pub, who->second}, node.public_key};
  return std::make_unique<wire::client>(node.control, std::move(creds));
}

std::vector<std::string> secret_key_problems(const cluster::config& cfg) {
  std::vector<std::string> out;
  const auto check = [&](const std::string& who, const cluster::secret_key_source& src, const std::string& pub) {
    if (src.empty() || (!src.file.empty() && !file_exists(src.file)) || (!src.env.empty() && !std::getenv(src.env.c_str())))
      return;
    auto secret = cluster::secret_key(src);
    if (!secret)
      out.push_back(who + ": " + secret.err().message);
    else if (auto derived = wire::public_of(*secret); !derived || *derived != pub)
      out.push_back(who + ": the secret key in " + src.describe() + " is not the one of its public key");
  };
  for (const auto& n : cfg.nodes)
    check("nodes." + n.name, n.secret, n.public_key);
  for (const auto& c : cfg.clients)
    check("clients." + c.name, c.secret, c.public_key);
  // The gateway's secret access keys, held to what `troupe gateway` will
  // take (40 characters, the file 0600); as above, one this machine does
  // not hold may be where the gateway runs.
  if (cfg.gateway)
    for (const auto& k : cfg.gateway->access_keys) {
      const auto& src = k.secret;
      if (src.empty() || (!src.file.empty() && !file_exists(src.file)) ||
          (!src.env.empty() && !std::getenv(src.env.c_str())))
        continue;
      if (auto secret = cluster::secret_access_key(src); !secret)
        out.push_back("gateway.access-keys." + k.id + ": " + secret.err().message);
    }
  return out;
}

int keygen(const std::string& name, const std::string& dir) {
  auto keys = wire::make_key_pair();
  if (!keys) {
    std::fprintf(stderr, "troupe: %s\n", keys.err().message.c_str());
    return 1;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (auto w = wire::write_key_pair(dir, name, *keys); !w) {
    std::fprintf(stderr, "troupe: %s\n", w.err().message.c_str());
    return 1;
  }
  std::printf("%s\n", keys->public_key.c_str());
  std::fprintf(stderr, "troupe: wrote %s/%s.key (secret, mode 0600) and %s/%s.pub\n", dir.c_str(), name.c_str(),
               dir.c_str(), name.c_str());
  return 0;
}

/// A fresh secret access key: 40 characters of A-Z, a-z, 0-9, '+' and '/',
/// written to `path` (mode 0600, never over a file).
result<void> write_access_secret(const fs::path& path) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char random[40];
  if (getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random))
    return error{wire::errc::io, "no randomness from the kernel"};
  std::string secret;
  for (unsigned char c : random)
    secret += alphabet[c & 63];
  secret += '\n';
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return error{wire::errc::io, "cannot write " + path.string() + ": " + std::strerror(errno)};
  const bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
  ::close(fd);
  if (!ok)
    return error{wire::errc::io, "cannot write " + path.string()};
  return {};
}

int keygen_for(const std::string& config_file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(config_file);
  } catch (const YAML::Exception& e) {
    std::fprintf(stderr, "%s:%d:%d: %s\n", config_file.c_str(), e.mark.line + 1, e.mark.column + 1, e.msg.c_str());
    return 2;
  }
  const auto dir = fs::absolute(config_file).parent_path();
  int made = 0, kept = 0, problems = 0;
  for (const char* section : {"nodes", "clients"}) {
    const YAML::Node entries = root.IsMap() ? root[section] : YAML::Node();
    if (!entries.IsMap())
      continue;
    for (const auto& kv : entries) {
      const YAML::Node pub = kv.second.IsMap() ? kv.second["public-key-file"] : YAML::Node();
      const YAML::Node sec = kv.second.IsMap() ? kv.second["secret-key-file"] : YAML::Node();
      if (!pub || !sec || !pub.IsScalar() || !sec.IsScalar())
        continue;
      const auto pub_path = (dir / pub.Scalar()).lexically_normal();
      const auto sec_path = (dir / sec.Scalar()).lexically_normal();
      const bool has_pub = file_exists(pub_path), has_sec = file_exists(sec_path);
      if (has_pub && has_sec) {
        ++kept;
        continue;
      }
      if (has_sec && !has_pub) {
        // The public key follows from the secret: the identity is kept.
        auto secret = wire::read_secret_key(sec_path);
        auto pub_key = secret ? wire::public_of(*secret) : result<std::string>(secret.err());
        if (pub_key && (std::ofstream(pub_path) << *pub_key << "\n")) {
          std::fprintf(stderr, "troupe: %s.%s: wrote %s from its secret key\n", section, kv.first.Scalar().c_str(),
                       pub_path.c_str());
          ++made;
        } else {
          std::fprintf(stderr, "troupe: %s.%s: %s\n", section, kv.first.Scalar().c_str(),
                       pub_key ? ("cannot write " + pub_path.string()).c_str() : pub_key.err().message.c_str());
          ++problems;
        }
        continue;
      }
      if (has_pub != has_sec) {
        std::fprintf(stderr, "%s:%d:%d: %s.%s: %s exists but %s does not; remove it to make a new pair\n",
                     config_file.c_str(), pub.Mark().line + 1, pub.Mark().column + 1, section,
                     kv.first.Scalar().c_str(), (has_pub ? pub_path : sec_path).c_str(),
                     (has_pub ? sec_path : pub_path).c_str());
        ++problems;
        continue;
      }
      auto keys = wire::make_key_pair();
      std::error_code ec;
      fs::create_directories(sec_path.parent_path(), ec);
      fs::create_directories(pub_path.parent_path(), ec);
      auto w = keys ? wire::write_key_files(sec_path, pub_path, *keys) : result<void>(keys.err());
      if (!w) {
        std::fprintf(stderr, "troupe: %s.%s: %s\n", section, kv.first.Scalar().c_str(), w.err().message.c_str());
        ++problems;
        continue;
      }
      ++made;
    }
  }
  // The gateway's access keys: a secret access key each, 40 characters as
  // AWS makes them, in a file only its owner reads.
  const YAML::Node keys = root.IsMap() && root["gateway"].IsMap() ? root["gateway"]["access-keys"] : YAML::Node();
  const int pairs_made = made, pairs_kept = kept;
  made = kept = 0;
  if (keys.IsMap())
    for (const auto& kv : keys) {
      const YAML::Node file = kv.second.IsMap() ? kv.second["secret-key-file"] : YAML::Node();
      if (!file || !file.IsScalar())
        continue;
      const auto path = (dir / file.Scalar()).lexically_normal();
      if (file_exists(path)) {
        ++kept;
        continue;
      }
      if (auto w = write_access_secret(path); !w) {
        std::fprintf(stderr, "troupe: gateway.access-keys.%s: %s\n", kv.first.Scalar().c_str(),
                     w.err().message.c_str());
        ++problems;
        continue;
      }
      std::fprintf(stderr, "troupe: gateway.access-keys.%s: wrote its secret access key to %s\n",
                   kv.first.Scalar().c_str(), path.c_str());
      ++made;
    }
  std::printf("%s: %d key pair%s made, %d already there\n", config_file.c_str(), pairs_made,
              pairs_made == 1 ? "" : "s", pairs_kept);
  if (made + kept)
    std::printf("%s: %d secret access key%s made, %d already there\n", config_file.c_str(), made,
                made == 1 ? "" : "s", kept);
  return problems ? 1 : 0;
}

} // namespace troupe::cli
