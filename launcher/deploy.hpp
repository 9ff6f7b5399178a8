// `troupe deploy`: hands a cluster's nodes to an engine that already knows
// how to run processes, by writing the files that engine reads. Nothing
// here starts, watches or restarts a node.
//
// - systemd, one host at a time: a `troupe-node@.service` template unit
//   (Type=notify, restarts and start limits from the config's
//   supervision, a dynamic user whose only writable place is the node's
//   StateDirectory, the secret key handed over with LoadCredential=), an
//   environment file per node of the host, and a README with the
//   install commands.
// - Kubernetes, the whole cluster: a ConfigMap with the config as it is
//   and the public key files it names, and per node a StatefulSet of one
//   replica behind a headless Service whose DNS name is the node's host
//   address, its data directory on a volume claim, its secret key from a
//   Secret, and a README with the `kubectl` commands.
//
// The config is the one the user installs, unchanged: its relative paths
// are read from where it is installed, and what does not fit the engine
// (a data directory systemd cannot give, host addresses that are not the
// Services' names) is refused, saying what to write instead. Every file is
// made in memory before the first is written.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "cluster/config.hpp"
#include "wire/error.hpp"

namespace troupe::cli {

/// Files by their path under the output directory, and their contents.
using file_set = std::map<std::string, std::string>;

struct systemd_options {
  std::string host;                      // the nodes of this host of the config
  std::filesystem::path troupe;          // the executable, absolute, as installed
  std::filesystem::path config;          // where the config is installed, absolute
};

struct kubernetes_options {
  std::string image = "troupe:0.1.0";    // with `troupe` on its PATH
  std::string ns = "default";
  std::string cluster_domain = "cluster.local";
  std::string storage = "1Gi";           // each node's volume claim
};

/// Where a config given as `config_file` is installed by default:
/// /etc/troupe/<its file name>.
std::filesystem::path default_installed_config(const std::string& config_file);

/// The unit, drop-ins, environment files and README for the nodes of
/// `opts.host`. Fails with not_deployable, naming every problem (with the
/// config's file:line:column where it has one).
result<file_set> systemd_files(const cluster::config& cfg, const systemd_options& opts);

/// The manifests and README for every node. Fails with not_deployable,
/// naming every problem; when the host addresses are not the Services'
/// names, the message ends with the `hosts:` section to write.
result<file_set> kubernetes_files(const cluster::config& cfg, const kubernetes_options& opts);

/// Writes `files` under `dir`, making it. Files already there that are in
/// `files` are overwritten; any other file there is refused (a manifest or
/// unit left from an earlier run would be applied with the new ones), and
/// then nothing is written. Fails with not_deployable or cannot_write.
result<void> write_files(const std::filesystem::path& dir, const file_set& files);

/// `troupe deploy systemd|kubernetes`: makes the files, writes them to
/// `out` and says what to do next. Returns the exit code: 0, 2 for a
/// config or option the engine cannot take (nothing written), 1 when
/// writing failed.
int deploy_systemd(const cluster::config& cfg, const systemd_options& opts, const std::filesystem::path& out);
int deploy_kubernetes(const cluster::config& cfg, const kubernetes_options& opts, const std::filesystem::path& out);

} // namespace troupe::cli
