// A real cluster for integration tests: writes a config with free ports
// into a temporary directory, runs `troupe launch` on it as a child process
// group, and stops it again (SIGTERM, then SIGKILL of the whole group) even
// when a test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <optional>

#include "tests/support/support.hpp"
#include "wire/security.hpp"

namespace troupe::test {

/// Path of the troupe executable under test (TROUPE_BIN).
std::string troupe_bin();

/// Runs a command to completion; returns its exit code and output (stdout
/// and stderr together). A command killed by a signal (a crash, or the
/// timeout's SIGKILL) has code -1 and the signal's number in `signal`.
struct run_result {
  int code;
  std::string output;
  int signal = 0;
};
run_result run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout);

/// A command run in the background while the test goes on, its output
/// (stdout and stderr together) collected as it comes. It dies with the
/// test process (PDEATHSIG) and is killed and reaped when this object is
/// destroyed, however the test ends.
class background_command {
 public:
  explicit background_command(const std::vector<std::string>& argv);
  ~background_command();
  background_command(const background_command&) = delete;
  background_command& operator=(const background_command&) = delete;

  /// Whether it has not exited yet.
  bool running();
  /// Waits until it exits, `timeout` at most (then kills it: code -1); its
  /// exit code and all its output.
  run_result wait(std::chrono::seconds timeout);
  std::string output() const;
  /// Its process id (reaped or not: a signal to it after it exited may
  /// reach another process; ask `running()` first).
  pid_t pid() const { return pid_; }

 private:
  bool reap(bool block);

  pid_t pid_ = -1;
  int code_ = -1;
  int signal_ = 0;
  bool exited_ = false;
  std::thread reader_;
  mutable std::mutex mu_;
  std::string out_;
};

/// `relative` (such as "configs/flight.yaml") under the source tree
/// (TROUPE_SOURCE_ROOT).
std::string source_file(const std::string& relative);

/// A config shipped in the source tree, run as it is: `file` from the
/// source root, and `extra` appended (sections the file does not have, such
/// as `supervision` or `faults`: a section written twice is refused). A
/// run that needs other seat maps or gateway rules gives its own
/// `services` section, which replaces the file's; the routing stays.
/// `durability`, when not empty, is set on every node (fsync, os, none).
/// Whether a test cluster has keys: CurveZMQ on every socket, and a
/// client `tester` with every role (the default, as the demo runs), or
/// none (an open cluster, on loopback).
enum class keys { on, off };

struct shipped {
  std::string file;
  std::string extra;
  std::string services;
  std::string durability;
  keys k = keys::on;  // off: the file's key lines and clients are left out
};


class cluster {
 public:
  /// `body` is the config without its `cluster`, `data-dir` and `nodes`
  /// sections; `nodes` maps node name to its services.
  /// `durability`, when not empty, is set on every node (fsync, os, none).
  /// With keys on, each node's key pair is made in <dir>/keys, and a
  /// `clients` section with `tester` ends the config.
  cluster(const std::map<std::string, std::vector<std::string>>& nodes, const std::string& body,
          const std::string& durability = "", keys k = keys::on);
  /// The shipped config's own text with only what a test must move
  /// replaced: each node's endpoints (free ports), `data-dir` (data) and a
  /// `maildir` (mail), both under the cluster's directory. Throws when the
  /// file does not have them where a config has them.
  /// Its `public-key-file` and `secret-key-file` lines point into
  /// <dir>/keys, where the pairs are made, and `tester` joins its clients.
  /// A `gateway` section listens on a free port of 127.0.0.1, and each
  /// access key's secret (NAME.aws) is made in <dir>/keys too.
  explicit cluster(const shipped& config);
  ~cluster();

  /// Starts `troupe launch` (with `launch_args` after the config) and
  /// waits until every node is connected.
  void start(const std::vector<std::string>& launch_args = {});
  /// SIGTERM to the launcher; returns its exit code (-1 if it had to be killed).
  int stop(std::chrono::seconds grace = std::chrono::seconds(15));
  /// Whether any process of the cluster's process group is still alive.
  bool any_process_left() const;
  /// The running `troupe launch` (its nodes are its children), or -1.
  pid_t launcher_pid() const { return pgid_; }

  /// Runs one node by itself (`troupe node`), without the launcher; its
  /// output goes to <dir>/<name>.log. It dies with the test process.
  void start_node(const std::string& name);
  /// Waits until `name` answers on its control socket.
  bool node_answers(const std::string& name, std::chrono::milliseconds timeout);
  void signal_node(const std::string& name, int sig);
  /// Waits for a node started with start_node to exit, `timeout` at most;
  /// its exit status (128 + the signal when a signal ended it). One still
  /// running at the deadline is killed (SIGKILL) and reaped, the timeout is
  /// said on stderr, and the status is -1, which no exit gives.
  int wait_node(const std::string& name, std::chrono::seconds timeout = std::chrono::seconds(30));
  std::filesystem::path node_data_dir(const std::string& name) const { return dir() / "data" / name; }
  std::string node_output(const std::string& name) const;

  const std::filesystem::path& dir() const { return tmp_.path(); }
  std::string config_path() const { return (dir() / "cluster.yaml").string(); }
  std::string control(const std::string& node) const { return control_.at(node); }
  /// Where node `node` serves /metrics (IP:PORT), for a shipped config
  /// that gives it one.
  std::string metrics(const std::string& node) const { return metrics_.at(node); }
  const std::map<std::string, std::string>& metrics_endpoints() const { return metrics_; }
  /// The credentials of client `client` (made by add_client, or `tester`)
  /// for `node`'s control socket; nullopt when the cluster has no keys.
  std::optional<wire::curve_client> curve(const std::string& node, const std::string& client = "tester") const;
  /// Adds client `name` with `roles` (YAML, e.g. "[reader]") and
  /// `extra` settings (e.g. ", sources: [a]") to the config, with a key pair
  /// in <dir>/keys. Before start().
  void add_client(const std::string& name, const std::string& roles, const std::string& extra = "");
  /// A key pair in <dir>/keys that the config does not list.
  wire::key_pair stranger_keys(const std::string& name) const;
  /// The key pair of `name` (a node or client of the config), from <dir>/keys.
  wire::key_pair keys_of(const std::string& name) const;
  bool keyed() const { return keyed_; }
  std::string launcher_output() const;

 private:
  void make_keys(const std::string& name) const;
  void make_access_secret(const std::string& name) const;
  std::string key_lines(const std::string& name, const std::string& indent) const;

  temp_dir tmp_;
  bool keyed_ = true;
  std::map<std::string, std::string> control_;
  std::map<std::string, std::string> metrics_;  // node -> IP:PORT of its /metrics
  std::map<std::string, pid_t> nodes_;
  pid_t pgid_ = -1;
  pid_t last_pgid_ = -1;
};

} // namespace troupe::test
