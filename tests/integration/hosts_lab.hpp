// Hosts as Linux network namespaces, for the multi-host tests and the
// bench. Each host is a namespace with one veth link to a bridge that lives
// in a namespace of its own, so nothing is done to this machine's own
// interfaces, routes or firewall. Host i has 198.18.0.(i+1)/24 on its link
// (198.18.0.0/15 is reserved for network tests, RFC 2544), and every host's
// /etc/hosts (/etc/netns/<ns>/hosts, which `ip netns exec` mounts over
// /etc/hosts) names each host `<host>.<domain>`.
//
// Namespaces are named `troupe-lab-<pid>-<counter>-<host>`, so that runs
// and labs never clash; interfaces live only inside them (the host's end
// is `link0`, the bridge's `to-<host>`), so their names need be unique
// there only. A lab that outlives its process (SIGKILL, a timeout) is
// swept by the next one: namespaces named after a pid that no longer runs
// are emptied and deleted, with their /etc/netns entries.
//
// What a host can suffer: every process in it SIGKILLed, its link cut at
// either end and healed, random loss on its link (iptables' statistic
// match in its namespace: this kernel has no tc netem), a new address.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `ip` and `iptables`. Every
// operation throws std::runtime_error, with the command and its output,
// when it fails; the destructor cleans up whatever happened.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/cluster.hpp"

namespace troupe::test {

/// Which end of a host's veth link to act on: the host's own interface
/// (its sockets see the network vanish at once) or the bridge's (packets
/// are lost silently, as when a cable upstream is cut).
enum class link_end { host, bridge };

class hosts_lab {
 public:
  /// Why this process cannot make a lab (not root, no `ip`, no
  /// `iptables`), or nullopt when it can.
  static std::optional<std::string> unavailable();

  /// Empties and deletes the namespaces (and their /etc/netns entries)
  /// that labs of processes no longer running left behind.
  static void sweep();

  /// Sweeps, then makes a namespace per host (in this order: 198.18.0.1,
  /// .2, ...) and the bridge's. `domain` names the hosts in /etc/hosts.
  explicit hosts_lab(const std::vector<std::string>& hosts, const std::string& domain = "lab.test");
  /// Kills every process in its namespaces, deletes them and their
  /// /etc/netns entries. Never throws.
  ~hosts_lab();
  hosts_lab(const hosts_lab&) = delete;
  hosts_lab& operator=(const hosts_lab&) = delete;

  const std::vector<std::string>& hosts() const { return hosts_; }
  std::string ns(const std::string& host) const;
  /// Its address now (moved by `readdress`).
  std::string address(const std::string& host) const;
  /// Its name in every host's /etc/hosts: `<host>.<domain>`.
  std::string dns_name(const std::string& host) const;

  /// `argv` as run inside `host`: prefixed by `ip netns exec NS`.
  std::vector<std::string> in(const std::string& host, const std::vector<std::string>& argv) const;
  /// Runs `argv` inside `host` to completion.
  run_result run(const std::string& host, const std::vector<std::string>& argv, std::chrono::seconds timeout) const;
  /// Starts `argv` inside `host` in the background (it dies with this
  /// process).
  std::unique_ptr<background_command> start(const std::string& host, const std::vector<std::string>& argv) const;

  /// Runs `fn` on the calling thread moved into `host`'s network
  /// namespace, and moves it back after, even when `fn` throws. A ZeroMQ
  /// context made inside (as wire::client makes one) has its I/O threads
  /// there too, so `fn` is a client on that host. Only its network: names
  /// resolve through this process's /etc/hosts, not the host's, so a
  /// config naming its hosts wants `run` instead.
  template <class F>
  auto on(const std::string& host, F&& fn) const {
    netns_guard g(*this, host);
    return fn();
  }

  /// Moves the calling thread into `host`'s network namespace for good:
  /// for a child forked to run there.
  void enter(const std::string& host) const;

  /// The processes in `host`'s namespace.
  std::vector<pid_t> pids(const std::string& host) const;
  /// SIGKILLs every process in `host` until none is left (a supervisor
  /// there may start another meanwhile); false when some remained after
  /// `timeout`.
  bool kill_all(const std::string& host, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  /// Takes `host`'s link down, at `end`.
  void cut(const std::string& host, link_end end);
  /// Brings it up again.
  void heal(const std::string& host, link_end end);
  /// Drops each packet of `host`'s link with `probability`, both ways
  /// (INPUT and OUTPUT of its namespace, on the link only: its loopback,
  /// between nodes of the same host, stays whole); 0 removes the rules.
  void set_loss(const std::string& host, double probability);
  /// Packets the loss rules of `host` dropped since they were set.
  std::uint64_t dropped(const std::string& host) const;
  /// Gives `host` the new address `address` (in 198.18.0.0/24), and
  /// rewrites every host's /etc/hosts in place, so that processes already
  /// running there resolve its name to the new one.
  void readdress(const std::string& host, const std::string& address);

  /// What the lab is, for a failure's message: each host's namespace,
  /// address, link state and loss.
  std::string describe() const;

 private:
  class netns_guard {
   public:
    netns_guard(const hosts_lab& lab, const std::string& host);
    ~netns_guard();
    netns_guard(const netns_guard&) = delete;
    netns_guard& operator=(const netns_guard&) = delete;

   private:
    int own_ = -1;
  };

  struct host_state {
    std::string ns;
    std::string address;
    bool host_end_up = true, bridge_end_up = true;
    double loss = 0;
  };
  const host_state& at(const std::string& host) const;
  host_state& at(const std::string& host);
  void write_hosts_files() const;
  void set_link(const std::string& host, link_end end, bool up);
  std::string bridge_ns() const { return prefix_ + "bridge"; }
  std::string bridge_port(const std::string& host) const;
  void ip(const std::vector<std::string>& args) const;  // `ip ARGS`, throws on failure
  void iptables(const std::string& host, const std::vector<std::string>& args) const;

  std::string prefix_;  // troupe-lab-<pid>-<counter>-
  std::string domain_;
  std::vector<std::string> hosts_;
  std::map<std::string, host_state> state_;
  std::vector<std::string> made_;  // namespaces made so far, to delete
};

} // namespace troupe::test
