// `troupe launch`: starts every node of a cluster on this machine as a
// child process, forwards their output line by line with the node's name
// in front, reports a node that dies, and on Ctrl-C or SIGTERM stops them
// all, leaving no process behind.
#pragma once

#include <string>

#include "cluster/config.hpp"

namespace troupe::cli {

struct launch_options {
  std::string config_path;
  std::string self_exe;  // this executable, to start `troupe node`
};

int launch(const cluster::config& cfg, const launch_options& opts);

} // namespace troupe::cli
