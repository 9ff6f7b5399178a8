// The flight saga spread over the hosts of a hosts_lab as
// configs/three-hosts.yaml spreads it (booking and dlq on alpha, payment
// and seat on beta, ticket and notification on gamma), each host's nodes
// run by its own `troupe launch CONFIG --host NAME` inside its namespace.
//
// The config is the shipped file with only what a lab must move: each
// host's address (the lab's, or its name in the lab's /etc/hosts), the
// data directory and the key files (made by `troupe keygen --config`),
// both in a temporary directory. Its ports stay: nothing else listens in
// a lab's namespaces. Every launcher is stopped, and everything left in
// the namespaces killed, when the object goes, however the test ends.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/config.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/integration/hosts_lab.hpp"

namespace troupe::test {

struct hosts_options {
  bool dns_names = false;  // hosts by their names in /etc/hosts, else by address
  std::string services;    // replaces the file's `services:` section; empty: the file's
  std::string extra;       // appended to the config
};

class hosts_cluster {
 public:
  /// Writes the config and its keys. The lab must have the file's hosts.
  explicit hosts_cluster(hosts_lab& lab, const hosts_options& o = {});
  /// A config of its own (the bench's): `text`, whose relative paths are
  /// read from the cluster's directory; its key files are made there.
  hosts_cluster(hosts_lab& lab, const std::string& text);
  /// Stops every launcher (SIGTERM, then SIGKILL of what is left).
  ~hosts_cluster();
  hosts_cluster(const hosts_cluster&) = delete;
  hosts_cluster& operator=(const hosts_cluster&) = delete;

  const std::filesystem::path& dir() const { return tmp_.path(); }
  std::string config_path() const { return (dir() / "three-hosts.yaml").string(); }
  const troupe::cluster::config& config() const { return cfg_; }
  hosts_lab& lab() const { return lab_; }

  /// Starts `troupe launch CONFIG --host HOST` inside the host, and waits
  /// until it says all its nodes are ready; false (with the launcher's
  /// output in `why`) when it did not within `timeout`.
  bool launch(const std::string& host, std::chrono::seconds timeout, std::string* why = nullptr);
  /// Launches every host, then waits until every node answers from
  /// `from` and is connected to all its peers. Throws when not.
  void launch_all(const std::string& from, std::chrono::seconds timeout = std::chrono::seconds(60));
  /// Waits until every node answers from `from` and has all its peers;
  /// false, with the nodes that do not in `why`, after `timeout`.
  bool wait_connected(const std::string& from, std::chrono::milliseconds timeout, std::string* why = nullptr);
  /// SIGTERM to the host's launcher; its exit code (-1 when it had to be
  /// killed, or was not running).
  int stop(const std::string& host, std::chrono::seconds grace = std::chrono::seconds(15));
  /// SIGKILL to every process of the host (its launcher and nodes, and any
  /// command run there); how many there were.
  std::size_t kill_host(const std::string& host);
  /// Removes the data directories of the host's nodes (stores, maildir):
  /// its nodes start as new incarnations, with new epochs.
  void wipe(const std::string& host);

  /// `troupe ARGS` inside `host`, to completion.
  run_result troupe(const std::string& host, const std::vector<std::string>& args,
                    std::chrono::seconds timeout) const;
  /// The host's launchers' output, every incarnation's in order.
  std::string launcher_output(const std::string& host) const;
  /// For a failure's message: the lab, and the last `tail` bytes of every
  /// host's launcher output.
  std::string diagnostics(std::size_t tail = 6000) const;

 private:
  void write_config(const hosts_options& o);
  void load(const std::string& source);  // makes the keys, reads the config back

  hosts_lab& lab_;
  temp_dir tmp_;
  troupe::cluster::config cfg_;
  std::map<std::string, std::vector<std::unique_ptr<background_command>>> launchers_;
};

} // namespace troupe::test
