// `troupe deploy systemd`: one host's nodes as instances of a template
// unit. The choices, and why:
//
// - DynamicUser=yes: each node runs as a user of its own that systemd
//   makes when it starts, so no account has to be made by hand and one
//   node cannot read another's store. Such a user can write nowhere but
//   its StateDirectory, so the config's data-dir must be under /var/lib
//   where the config is installed (anything else is refused, saying
//   what to write), and its secret key, a root-only file, is handed over
//   by LoadCredential=, which systemd reads as root.
// - Restart=on-failure, except after exit code 2 (a config or key the
//   node refuses: restarting cannot mend it); the start limits are the
//   config's supervision.
#include <algorithm>

#include "launcher/common.hpp"
#include "launcher/deploy.hpp"
#include "launcher/deploy_files.hpp"
#include "launcher/launch.hpp"

namespace troupe::cli {

namespace fs = std::filesystem;
using namespace deploy;

namespace {

constexpr const char* unit_name = "troupe-node@.service";
// How long systemd waits for a WATCHDOG=1 (a node sends one every half of
// it while its event loop turns) before it restarts the node.
constexpr const char* watchdog = "30s";

// Paths go into unit files unquoted: one with white space, quotes or
// backslashes is refused rather than escaped. `%` starts a specifier, `$`
// a variable on a command line: both are doubled.
std::optional<std::string> unit_path(const fs::path& p, const std::string& what, std::vector<std::string>& problems) {
  const auto s = p.string();
  const auto unsafe = [](unsigned char c) { return c <= ' ' || c == '"' || c == '\'' || c == '\\' || c == 0x7f; };
  if (std::any_of(s.begin(), s.end(), unsafe)) {
    problems.push_back(what + " '" + s + "': a path written into a unit here must have no white space, quotes or "
                                         "backslashes");
    return std::nullopt;
  }
  std::string out;
  for (const char c : s)
    out += c == '%' ? std::string("%%") : c == '$' ? std::string("$$") : std::string(1, c);
  return out;
}

struct host_plan {
  std::vector<const cluster::node_spec*> nodes;
  std::string state_directory;  // relative to /var/lib, escaped, without the node
  std::map<std::string, std::string> credential;  // by node: the installed secret key file, escaped
  std::string troupe, config, config_dir;        // escaped
};

result<host_plan> plan(const cluster::config& cfg, const systemd_options& o, const config_paths& paths) {
  std::vector<std::string> problems;
  host_plan p;
  const auto names = cfg.host_names();
  if (!cfg.find_host(o.host) && std::find(names.begin(), names.end(), o.host) == names.end()) {
    std::string known;
    for (const auto& n : names)
      known += (known.empty() ? "" : ", ") + n;
    return not_deployable({cfg.file + ": no host '" + o.host + "'; its nodes are on " + known});
  }
  p.nodes = cfg.nodes_on(o.host);
  if (p.nodes.empty())
    return not_deployable({cfg.file + ": no node is on host '" + o.host + "'"});
  if (!o.troupe.is_absolute())
    problems.push_back("--troupe '" + o.troupe.string() + "': systemd needs an absolute path");
  if (!o.config.is_absolute())
    problems.push_back("--config-path '" + o.config.string() + "': systemd needs an absolute path");
  if (!problems.empty())
    return not_deployable(problems);

  const auto data_dir = paths.data_dir.installed(o.config);
  const auto under_var_lib = data_dir.lexically_relative("/var/lib");
  if (under_var_lib.empty() || under_var_lib == "." || *under_var_lib.begin() == "..")
    problems.push_back(at(cfg, paths.data_dir,
                          "data-dir '" + paths.data_dir.text + "' is " + data_dir.string() + " where the config is "
                              "installed (" + o.config.string() + "); a node under systemd keeps its data in its "
                              "StateDirectory, under /var/lib: write data-dir: /var/lib/troupe/" + cfg.cluster
                              + " in the config you install"));
  else if (auto s = unit_path(under_var_lib, "data-dir", problems))
    p.state_directory = *s;
  for (const auto* n : p.nodes) {
    if (!port_of(n->pub_bind) || !port_of(n->control_bind))
      problems.push_back(cfg.file + ": nodes." + n->name + ": a node under systemd listens on tcp:// endpoints (its "
                                    "ipc:// socket would be outside its StateDirectory)");
    const auto secret = paths.node_secret.find(n->name);
    if (secret == paths.node_secret.end())
      continue;
    if (auto s = unit_path(secret->second.installed(o.config), "nodes." + n->name + ".secret-key-file", problems))
      p.credential[n->name] = *s;
  }
  auto troupe = unit_path(o.troupe.lexically_normal(), "--troupe", problems);
  auto config = unit_path(o.config.lexically_normal(), "--config-path", problems);
  auto config_dir = unit_path(o.config.lexically_normal().parent_path(), "--config-path", problems);
  if (!problems.empty())
    return not_deployable(problems);
  p.troupe = *troupe;
  p.config = *config;
  p.config_dir = *config_dir;
  return p;
}

std::string unit_text(const cluster::config& cfg, const systemd_options& o, const host_plan& p) {
  const auto& s = cfg.supervision;
  std::string u;
  u += "# One node of the troupe cluster '" + cfg.cluster + "' per instance: troupe-node@NODE.service runs\n"
       "# node NODE. Made by `troupe deploy systemd " + fs::path(cfg.file).filename().string() + " --host " + o.host + "`;\n"
       "# the README beside it says how to install it.\n"
       "[Unit]\n"
       "Description=troupe node %i (cluster " + cfg.cluster + ")\n"
       "After=network-online.target\n"
       "Wants=network-online.target\n"
       "# supervision: at most " + std::to_string(s.max_restarts) + " restarts within " + time_span(s.within) + ".\n"
       "# systemd counts every start, the first one too.\n"
       "StartLimitIntervalSec=" + time_span(s.within) + "\n"
       "StartLimitBurst=" + std::to_string(s.max_restarts + 1) + "\n"
       "\n"
       "[Service]\n"
       "Type=notify\n"
       "NotifyAccess=main\n"
       "ExecStart=" + p.troupe + " node " + p.config + " --node %i\n"
       "# Each node of this host has one; a node of another host does not start here.\n"
       "EnvironmentFile=" + p.config_dir + "/%i.env\n"
       "# Its lines go to the journal, each opening with its level's priority (<4> for\n"
       "# a warning), which journald keeps as the entry's and strips. TROUPE_LOG_FORMAT=json\n"
       "# in the environment file makes them JSON objects.\n"
       "StandardOutput=journal\n"
       "SyslogLevelPrefix=yes\n";
  u += s.max_restarts > 0 ? "Restart=on-failure\n" : "Restart=no\n";
  u += "# Exit code 2: a config or key the node refuses; restarting would not mend it.\n"
       "RestartPreventExitStatus=2\n"
       "# supervision.backoff-base. systemd 254 and later can also grow it up to\n"
       "# supervision.backoff-cap: RestartSteps=" + std::to_string(std::max(1, s.max_restarts)) + " and RestartMaxDelaySec="
       + time_span(s.backoff_cap) + ".\n"
       "RestartSec=" + time_span(s.backoff_base) + "\n"
       "TimeoutStopSec=" + time_span(stop_grace) + "\n"
       "WatchdogSec=" + watchdog + "\n"
       "\n"
       "# A user of its own per node; its only writable place is its data directory,\n"
       "# " + (fs::path("/var/lib") / p.state_directory).string() + "/NODE (the config's data-dir and the node's name).\n"
       "DynamicUser=yes\n"
       "StateDirectory=" + p.state_directory + "/%i\n"
       "StateDirectoryMode=0700\n"
       "UMask=0077\n"
       "\n"
       "ProtectSystem=strict\n"
       "ProtectHome=yes\n"
       "PrivateTmp=yes\n"
       "PrivateDevices=yes\n"
       "NoNewPrivileges=yes\n"
       "CapabilityBoundingSet=\n"
       "AmbientCapabilities=\n"
       "ProtectKernelTunables=yes\n"
       "ProtectKernelModules=yes\n"
       "ProtectKernelLogs=yes\n"
       "ProtectControlGroups=yes\n"
       "ProtectClock=yes\n"
       "ProtectHostname=yes\n"
       "RestrictNamespaces=yes\n"
       "RestrictRealtime=yes\n"
       "RestrictSUIDSGID=yes\n"
       "LockPersonality=yes\n"
       "MemoryDenyWriteExecute=yes\n"
       "RemoveIPC=yes\n"
       "# AF_UNIX for sd_notify and the journal, AF_NETLINK for the interfaces ZeroMQ binds.\n"
       "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n"
       "SystemCallArchitectures=native\n"
       "SystemCallFilter=@system-service\n"
       "SystemCallErrorNumber=EPERM\n"
       "\n"
       "[Install]\n"
       "WantedBy=multi-user.target\n";
  return u;
}

std::string env_text(const cluster::config& cfg, const systemd_options& o, const cluster::node_spec& n) {
  std::string e = "# Node " + n.name + " of cluster " + cfg.cluster + ", on host " + o.host + ": read by troupe-node@"
                   + n.name + ".service.\n"
                   "TROUPE_NODE=" + n.name + "\n"
                   "# Its log lines as JSON objects, one a line (troupe node --log-format):\n"
                   "#TROUPE_LOG_FORMAT=json\n";
  if (!n.secret.env.empty())
    e += "# Its secret key (the config's secret-key-env); keep this file mode 0600.\n"
         "#" + n.secret.env + "=<the node's CURVE secret key, 40 characters of Z85>\n";
  return e;
}

std::string credential_text(const std::string& node, const std::string& key_file) {
  return "# Node " + node + "'s secret key, read by systemd (as root) and handed to the node\n"
         "# under its credentials directory, readable by the node's user only.\n"
         "[Service]\n"
         "LoadCredential=" + node + ".key:" + key_file + "\n"
         "Environment=TROUPE_SECRET_KEY_FILE=%d/" + node + ".key\n";
}

std::string readme_text(const cluster::config& cfg, const systemd_options& o, const config_paths& paths,
                        const host_plan& p) {
  const auto w = [](const fs::path& x) { return shell_word(x.string()); };
  std::string units;
  for (const auto* n : p.nodes)
    units += " troupe-node@" + n->name;
  std::string r = "# troupe cluster " + cfg.cluster + ": host " + o.host + " under systemd\n\n"
                  "Made by `troupe deploy systemd` from " + cfg.file + ". Every node of host " + o.host
                  + " runs as an instance of `troupe-node@.service`, as a user systemd makes for it (DynamicUser), "
                    "with its data in /var/lib/" + p.state_directory + "/NODE.\n\n"
                  "On " + o.host + ", as root:\n\n```sh\n"
                  "# troupe itself\n"
                  "test -x " + w(o.troupe) + "\n"
                  "# the config, as it is, and the public keys it names\n"
                  "install -D -m 0644 " + w(fs::absolute(cfg.file).lexically_normal()) + " " + w(o.config) + "\n";
  const auto copy = [&](const fs::path& from, const fs::path& to, const char* mode) {
    r += "install -D -m " + std::string(mode) + " " + w(from) + " " + w(to) + "\n";
  };
  for (const auto& [name, path] : paths.node_public)
    copy((cfg.dir / path.text).lexically_normal(), path.installed(o.config), "0644");
  for (const auto& [name, path] : paths.client_public)
    copy((cfg.dir / path.text).lexically_normal(), path.installed(o.config), "0644");
  r += "# the secret keys of this host's nodes, root's only: systemd hands each to its node\n";
  for (const auto* n : p.nodes)
    if (auto s = paths.node_secret.find(n->name); s != paths.node_secret.end())
      copy((cfg.dir / s->second.text).lexically_normal(), s->second.installed(o.config), "0600");
  r += "# the unit, each node's drop-in and environment file\n"
       "install -m 0644 troupe-node@.service /etc/systemd/system/\n";
  for (const auto* n : p.nodes) {
    if (p.credential.count(n->name))
      r += "install -D -m 0644 troupe-node@" + n->name + ".service.d/secret-key.conf /etc/systemd/system/troupe-node@"
           + n->name + ".service.d/secret-key.conf\n";
    r += "install -m 0600 " + n->name + ".env " + w(o.config.parent_path() / (n->name + ".env")) + "\n";
  }
  r += "systemctl daemon-reload\n"
       "systemctl enable --now" + units + "\n"
       "```\n\n"
       "Then `systemctl status" + units + "` shows each node's state as it told systemd (READY once its "
       "sockets are bound and its store is open), and `journalctl -u troupe-node@NODE` its log. A node that "
       "fails is restarted after " + time_span(cfg.supervision.backoff_base) + ", at most "
       + std::to_string(cfg.supervision.max_restarts) + " times within " + time_span(cfg.supervision.within)
       + " (the config's supervision); then it stays failed until `systemctl reset-failed troupe-node@NODE`. "
         "Exit code 2 (a config or key it refuses) is not restarted.\n\n"
         "Check the config there first: `" + w(o.troupe) + " check " + w(o.config) + "`.\n";
  return r;
}

} // namespace

result<file_set> systemd_files(const cluster::config& cfg, const systemd_options& opts) {
  auto paths = paths_of(cfg);
  if (!paths)
    return paths.err();
  auto p = plan(cfg, opts, *paths);
  if (!p)
    return p.err();
  file_set files;
  files[unit_name] = unit_text(cfg, opts, *p);
  for (const auto* n : p->nodes) {
    files[n->name + ".env"] = env_text(cfg, opts, *n);
    if (auto c = p->credential.find(n->name); c != p->credential.end())
      files["troupe-node@" + n->name + ".service.d/secret-key.conf"] = credential_text(n->name, c->second);
  }
  files["README.md"] = readme_text(cfg, opts, *paths, *p);
  return files;
}

int deploy_systemd(const cluster::config& cfg, const systemd_options& opts, const fs::path& out) {
  const auto files = systemd_files(cfg, opts);
  if (const int rc = write_out(files, out))
    return rc;
  std::string units;
  for (const auto* n : cfg.nodes_on(opts.host))
    units += " troupe-node@" + n->name;
  std::printf("%s: wrote %zu files for host %s; install them as %s/README.md says, then:\n"
              "  systemctl daemon-reload && systemctl enable --now%s\n",
              out.c_str(), files->size(), opts.host.c_str(), out.c_str(), units.c_str());
  return 0;
}

} // namespace troupe::cli
