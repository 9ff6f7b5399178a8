#include "wire/security.hpp"

#include <endian.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <zmq.h>

namespace troupe::wire {

namespace {

std::string raw_of(const std::string& z85) {
  std::array<std::uint8_t, 32> raw{};
  if (z85.size() != z85_key_length || !zmq_z85_decode(raw.data(), z85.c_str()))
    return {};
  return std::string(reinterpret_cast<const char*>(raw.data()), raw.size());
}

result<void> write_file(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return error{errc::io, "cannot create " + path.string() + ": " + std::strerror(errno)};
  // The umask may have taken bits from `mode`; the secret's must be exact.
  bool ok = ::fchmod(fd, mode) == 0;
  ok = ok && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int saved = errno;
  ::close(fd);
  if (!ok)
    return error{errc::io, "cannot write " + path.string() + ": " + std::strerror(saved)};
  return {};
}

} // namespace

result<key_pair> make_key_pair() {
  char pub[z85_key_length + 1], sec[z85_key_length + 1];
  if (zmq_curve_keypair(pub, sec) != 0)
    return error{errc::io, std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno())};
  return key_pair{pub, sec};
}

bool is_z85_key(std::string_view key) { return !raw_of(std::string(key)).empty(); }

result<std::string> public_of(const std::string& secret) {
  char pub[z85_key_length + 1];
  if (!is_z85_key(secret) || zmq_curve_public(pub, secret.c_str()) != 0)
    return error{errc::invalid_field, "not a CURVE secret key (40 characters of Z85)"};
  return std::string(pub);
}

result<void> write_key_pair(const std::filesystem::path& dir, const std::string& name, const key_pair& keys) {
  return write_key_files(dir / (name + ".key"), dir / (name + ".pub"), keys);
}

result<void> write_key_files(const std::filesystem::path& secret, const std::filesystem::path& pub,
                             const key_pair& keys) {
  if (auto r = write_file(secret, keys.secret_key + "\n", 0600); !r)
    return r;
  if (auto r = write_file(pub, keys.public_key + "\n", 0644); !r) {
    std::filesystem::remove(secret);
    return r;
  }
  return {};
}

namespace {

/// Whether the group bits of `file`'s mode are the mask of an access ACL
/// that lets no one read it but its owner and this process's user: what
/// systemd does with a credential (LoadCredential=) on a file system with
/// ACLs, a root-owned 0400 file with `user:<the service's uid>:r--`.
bool acl_grants_only_this_user(const std::filesystem::path& file, const struct stat& st) {
  if (st.st_mode & S_IRWXO)
    return false;
  // The kernel's xattr form (linux/posix_acl_xattr.h): a version, then
  // entries of tag, permissions and id, little-endian.
  unsigned char acl[4 + 8 * 64];
  const auto n = ::getxattr(file.c_str(), "system.posix_acl_access", acl, sizeof acl);
  if (n < 4 || (n - 4) % 8 != 0)
    return false;
  std::uint32_t version = 0;
  std::memcpy(&version, acl, 4);
  if (le32toh(version) != 2)
    return false;
  constexpr std::uint16_t named_user = 0x02, owning_group = 0x04, named_group = 0x08, other = 0x20;
  for (auto i = 4; i < n; i += 8) {
    std::uint16_t tag = 0, perm = 0;
    std::uint32_t id = 0;
    std::memcpy(&tag, acl + i, 2);
    std::memcpy(&perm, acl + i + 2, 2);
    std::memcpy(&id, acl + i + 4, 4);
    if (le16toh(perm) == 0)
      continue;
    switch (le16toh(tag)) {
      case named_user:
        if (le32toh(id) != ::geteuid())
          return false;
        break;
      case owning_group:
      case named_group:
      case other:
        return false;
      default:  // the owner, and the mask (which only narrows)
        break;
    }
  }
  return true;
}

} // namespace

result<std::string> read_secret_line(const std::filesystem::path& file, const std::string& what) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0)
    return error{errc::io, "cannot read " + what + " " + file.string() + ": " + std::strerror(errno)};
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) && !acl_grants_only_this_user(file, st))
    return error{errc::invalid_field, what + " " + file.string() + " may be read by others (mode "
                                          + [&] {
                                              char m[8];
                                              std::snprintf(m, sizeof m, "%04o", st.st_mode & 07777);
                                              return std::string(m);
                                            }()
                                          + "); make it 0600 (chmod 600 " + file.string() + ")"};
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line))
    return error{errc::io, "cannot read " + what + " " + file.string()};
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.pop_back();
  return line;
}

result<std::string> read_secret_key(const std::filesystem::path& file) {
  auto line = read_secret_line(file, "the secret key");
  if (!line)
    return line;
  if (!is_z85_key(*line))
    return error{errc::invalid_field, file.string() + " does not hold a CURVE secret key (40 characters of Z85 on "
                                                      "its first line, as `troupe keygen` writes)"};
  return line;
}

void zap_policy::admit(const std::string& domain, const std::string& public_key, const std::string& user_id) {
  admitted_[domain][raw_of(public_key)] = user_id;
}

zap_reply zap_policy::decide(const zap_request& req) const {
  zap_reply r;
  r.request_id = req.request_id;
  if (req.version != "1.0") {
    r.status_code = "500";
    r.status_text = "not ZAP 1.0";
    return r;
  }
  r.status_code = "400";
  if (req.mechanism != "CURVE" || req.credentials.size() != 1 || req.credentials[0].size() != 32) {
    r.status_text = "only CURVE keys get in";
    return r;
  }
  const auto domain = admitted_.find(req.domain);
  if (domain == admitted_.end()) {
    r.status_text = "no keys are admitted on this domain";
    return r;
  }
  const auto who = domain->second.find(req.credentials[0]);
  if (who == domain->second.end()) {
    r.status_text = "unknown key";
    return r;
  }
  r.status_code = "200";
  r.status_text = "OK";
  r.user_id = who->second;
  return r;
}

std::optional<zap_request> parse_zap_request(const std::vector<std::string>& frames) {
  if (frames.size() < 6)
    return std::nullopt;
  zap_request r{frames[0], frames[1], frames[2], frames[3], frames[4], frames[5], {}};
  r.credentials.assign(frames.begin() + 6, frames.end());
  return r;
}

std::vector<std::string> zap_reply_frames(const zap_reply& r) {
  return {r.version, r.request_id, r.status_code, r.status_text, r.user_id, std::string()};
}

} // namespace troupe::wire
