// `troupe launch`: starts every node of a cluster, or of one of its hosts
// (`--host`), on this machine as a child process and supervises them.
// Their output is forwarded line by line: in text, with the node's name in
// front (`payment | ...`; the launcher's own lines are `launch | ...`); in
// JSON, as the nodes wrote it, each line an object that names its node,
// and anything else a node wrote (a crash report) made into one. Under
// systemd each line opens with its journald priority (log/journal.hpp).
// A node that dies is restarted after an exponential backoff with full
// jitter; one that dies more often than the config's restart intensity
// allows (`supervision:`, OTP-style: at most max-restarts within a window)
// is reported FAILED and left down while the others go on. Ctrl-C or
// SIGTERM stops them all, cancels any pending restart and leaves no
// process behind; a SIGKILLed launcher takes its nodes with it
// (PR_SET_PDEATHSIG).
#pragma once

#include <chrono>
#include <string>

#include "cluster/config.hpp"
#include "log/format.hpp"

namespace troupe::cli {

/// How long a node has to stop after SIGTERM before it is killed: under
/// the launcher, and as `troupe deploy` tells systemd and Kubernetes.
inline constexpr std::chrono::seconds stop_grace{10};

struct launch_options {
  std::string config_path;
  std::string self_exe;  // this executable, to start `troupe node`
  std::string host;      // only the nodes on this host; empty: all (the config must have one host)
  log::format log_format = log::format::text;  // the nodes' and the launcher's own lines
};

/// Runs until stopped by SIGINT/SIGTERM or until no node is left to run.
/// Returns 0 after a clean stop (even if nodes were restarted on the way),
/// 1 if a node could not be started or was given up on (FAILED).
int launch(const cluster::config& cfg, const launch_options& opts);

} // namespace troupe::cli
