// CurveZMQ keys and the ZAP policy that admits only the keys a config lists.
//
// CURVE encrypts and authenticates a connection: a client must know the
// server's public key, and proves it holds the secret key of its own. But
// libzmq admits any client key unless a ZAP handler (RFC 27) says otherwise,
// so every node runs one that admits only the keys the config lists and
// names each admitted connection by its user id (a node's or a client's
// name). ZeroMQ then hands that user id with every message that arrives on
// the connection: identity comes from the connection, never from a message.
//
// Keys are 40-character Z85 strings. A secret key lives in a file of its
// own, readable by its owner alone, or in an environment variable; never in
// the config.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wire/error.hpp"

namespace troupe::wire {

inline constexpr std::size_t z85_key_length = 40;

struct key_pair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

/// A fresh CURVE key pair. Fails with `io` when libzmq was built without
/// CURVE.
result<key_pair> make_key_pair();

/// Whether `key` is 40 characters of the Z85 alphabet that decode to 32
/// bytes.
bool is_z85_key(std::string_view key);

/// The public key of a Z85 secret key; fails with `invalid_field` when
/// `secret` is not one.
result<std::string> public_of(const std::string& secret);

/// Writes `<dir>/<name>.key` (the secret key, mode 0600, refusing to
/// overwrite one) and `<dir>/<name>.pub` (the public key). Fails with `io`
/// naming the file.
result<void> write_key_pair(const std::filesystem::path& dir, const std::string& name, const key_pair& keys);

/// The same, to the two paths given.
result<void> write_key_files(const std::filesystem::path& secret, const std::filesystem::path& pub,
                             const key_pair& keys);

/// Reads a secret key file: its first line, a Z85 key. Fails with `io` when
/// it cannot be read, and with `invalid_field` when group or others may
/// read it (as ssh does) or it does not hold a key. An access ACL that
/// lets only this process's user read it besides its owner is no group
/// (systemd's LoadCredential= hands a service its key so).
result<std::string> read_secret_key(const std::filesystem::path& file);

/// The first line of a file that holds a secret (`what` names it in
/// errors), refused as read_secret_key refuses one others may read.
result<std::string> read_secret_line(const std::filesystem::path& file, const std::string& what);

/// The ZAP domains of a node's two listening sockets: its PUB admits only
/// nodes, its control ROUTER nodes and clients.
inline constexpr const char* pub_domain = "troupe.pub";
inline constexpr const char* control_domain = "troupe.control";

/// One ZAP request, as libzmq sends it to inproc://zeromq.zap.01.
struct zap_request {
  std::string version;    // "1.0"
  std::string request_id;
  std::string domain;
  std::string address;
  std::string identity;
  std::string mechanism;  // "NULL", "PLAIN" or "CURVE"
  std::vector<std::string> credentials;
};

struct zap_reply {
  std::string version = "1.0";
  std::string request_id;
  std::string status_code;  // "200" admitted, "400" refused, "500" internal error
  std::string status_text;
  std::string user_id;      // the admitted key's name; empty when refused
};

/// Who may connect, per ZAP domain: the admitted public keys (as 32 raw
/// bytes, the form ZAP credentials take) and the name each stands for.
class zap_policy {
 public:
  /// Admits `public_key` (Z85) on `domain` as `user_id`.
  void admit(const std::string& domain, const std::string& public_key, const std::string& user_id);

  /// The answer to `req`: 200 with the key's user id for a CURVE key
  /// admitted on its domain, 400 for anything else (another mechanism, an
  /// unknown key or domain), 500 for a request that is not ZAP 1.0.
  zap_reply decide(const zap_request& req) const;

 private:
  std::map<std::string, std::map<std::string, std::string>> admitted_;  // domain → raw key → user id
};

/// Parses the frames of a ZAP request; nullopt when they are not one.
std::optional<zap_request> parse_zap_request(const std::vector<std::string>& frames);

/// The frames of a ZAP reply (the metadata frame is empty).
std::vector<std::string> zap_reply_frames(const zap_reply& r);

/// A client's credentials: its own key pair and the server's public key.
struct curve_client {
  key_pair own;
  std::string server_key;  // Z85
};

} // namespace troupe::wire
