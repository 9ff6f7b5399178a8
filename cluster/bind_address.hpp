// Where a node's ZeroMQ endpoint binds, read from its text so that two
// spellings of one address compare as one: `tcp://localhost:N` binds
// 127.0.0.1 and ::1, `tcp://0.0.0.0:N` every address, `tcp://127.1:N` is
// 127.0.0.1 as libzmq reads it, and `ipc://` names a socket path.
//
// No name is looked up but `localhost`: resolving other host names belongs
// with running nodes on several machines. Other names compare as text,
// case aside.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace troupe::cluster {

struct bind_address {
  enum class transport { tcp, ipc };
  transport kind = transport::tcp;
  std::string text;                // as written
  // tcp: the addresses bound, canonical (as inet_ntop writes them) or a
  // lower-case host name; `every` when it binds every address.
  std::vector<std::string> hosts;
  bool every = false;
  int port = 0;
  // ipc: the socket path, lexically normal; empty for `ipc://*`, a fresh
  // name of libzmq's choosing that nothing else can bind.
  std::string path;
};

/// The address `endpoint` binds, when a node can bind it and other nodes
/// can connect to it; otherwise nullopt with the reason in `why`.
std::optional<bind_address> parse_bind_address(const std::string& endpoint, std::string& why);

/// The endpoints of one machine, to find two that cannot both be bound.
class bind_table {
 public:
  struct conflict {
    std::string owner;   // the earlier endpoint's owner
    std::string text;    // as written
    std::string reason;  // what both bind, e.g. "both bind 127.0.0.1 port 5001"
  };

  /// The earlier endpoint that `a` cannot be bound beside, or nullopt after
  /// recording `a` for `owner`.
  std::optional<conflict> claim(const bind_address& a, const std::string& owner);

 private:
  struct entry {
    std::string owner, text;
  };
  struct port_entries {
    std::optional<entry> every;           // a wildcard bound the port
    std::map<std::string, entry> hosts;   // by address
  };
  std::map<int, port_entries> tcp_;
  std::map<std::string, entry> ipc_;
};

} // namespace troupe::cluster
