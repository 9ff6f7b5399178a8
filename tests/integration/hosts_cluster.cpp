#include "tests/integration/hosts_cluster.hpp"

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"

namespace troupe::test {

namespace {

using namespace std::chrono_literals;

const char* const shipped_file = "configs/three-hosts.yaml";

} // namespace

hosts_cluster::hosts_cluster(hosts_lab& lab, const hosts_options& o) : lab_(lab) {
  write_config(o);
  load(shipped_file);
}

hosts_cluster::hosts_cluster(hosts_lab& lab, const std::string& text) : lab_(lab) {
  std::ofstream(config_path()) << text;
  load("the config");
}

void hosts_cluster::load(const std::string& source) {
  const auto keygen = run_command({troupe_bin(), "keygen", "--config", config_path()}, 60s);
  if (keygen.code != 0)
    throw std::runtime_error("troupe keygen --config " + config_path() + " failed: " + keygen.output);
  auto cfg = cli::load_config(config_path());
  if (!cfg)
    throw std::runtime_error("the lab's config " + config_path() + " is invalid (see stderr)");
  cfg_ = std::move(*cfg);
  for (const auto& host : cfg_.host_names())
    if (std::find(lab_.hosts().begin(), lab_.hosts().end(), host) == lab_.hosts().end())
      throw std::runtime_error("the lab has no host " + host + ", which " + source + " places nodes on");
}

void hosts_cluster::write_config(const hosts_options& o) {
  std::ifstream in(source_file(shipped_file));
  if (!in)
    throw std::runtime_error("cannot read " + source_file(shipped_file));
  static const std::regex section_re(R"(^([A-Za-z][A-Za-z0-9_-]*):.*)");
  static const std::regex data_dir_re(R"(^data-dir:\s*[^\s#]+(.*)$)");
  static const std::regex host_re(R"(^  ([A-Za-z0-9_-]+):\s*\{address:\s*[^,}]+\}(.*)$)");
  static const std::regex key_file_re(R"(^(.*(public|secret)-key-file:\s*)[^\s,}#]*/([A-Za-z0-9_-]+)\.(pub|key)(.*)$)");
  std::ostringstream y;
  std::string section;
  std::size_t data_dirs = 0, keys = 0;
  std::set<std::string> hosts;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, section_re)) {
      section = m[1].str();
      if (section == "services" && !o.services.empty())
        y << o.services;
    }
    if (section == "services" && !o.services.empty())
      continue;
    if (section == "data-dir" && std::regex_match(line, m, data_dir_re)) {
      line = "data-dir: data" + m[1].str();
      ++data_dirs;
    } else if (section == "hosts" && std::regex_match(line, m, host_re)) {
      const auto host = m[1].str();
      hosts.insert(host);
      line = "  " + host + ": {address: " + (o.dns_names ? lab_.dns_name(host) : lab_.address(host)) + "}"
             + m[2].str();
    } else if (std::regex_match(line, m, key_file_re)) {
      line = m[1].str() + "keys/" + m[3].str() + "." + m[4].str() + m[5].str();
      ++keys;
    }
    y << line << "\n";
  }
  if (data_dirs != 1 || hosts.size() != lab_.hosts().size() || keys == 0)
    throw std::runtime_error(std::string(shipped_file) + ": expected one data-dir, a host line per lab host and key "
                             + "files (found " + std::to_string(data_dirs) + " data-dir, "
                             + std::to_string(hosts.size()) + " hosts, " + std::to_string(keys) + " key lines)");
  y << o.extra;
  std::ofstream(config_path()) << y.str();
}

hosts_cluster::~hosts_cluster() {
  for (const auto& host : lab_.hosts())
    if (launchers_.count(host)) {
      stop(host, 10s);
      lab_.kill_all(host, 5s);
    }
}

bool hosts_cluster::launch(const std::string& host, std::chrono::seconds timeout, std::string* why) {
  auto& incarnations = launchers_[host];
  incarnations.push_back(lab_.start(host, {troupe_bin(), "launch", config_path(), "--host", host}));
  auto& launcher = *incarnations.back();
  const auto ready = "all " + std::to_string(cfg_.nodes_on(host).size()) + " nodes ready";
  const bool ok = wait_until(
      [&] { return launcher.output().find(ready) != std::string::npos || !launcher.running(); }, timeout);
  if (ok && launcher.output().find(ready) != std::string::npos)
    return true;
  if (why)
    *why = "the launcher on " + host + (launcher.running() ? " was not ready" : " exited") + ":\n" + launcher.output();
  return false;
}

void hosts_cluster::launch_all(const std::string& from, std::chrono::seconds timeout) {
  std::string why;
  for (const auto& host : cfg_.host_names())
    if (!launch(host, timeout, &why))
      throw std::runtime_error(why + "\n" + diagnostics());
  if (!wait_connected(from, timeout, &why))
    throw std::runtime_error("the hosts' nodes did not connect: " + why + "\n" + diagnostics());
}

bool hosts_cluster::wait_connected(const std::string& from, std::chrono::milliseconds timeout, std::string* why) {
  // `troupe status` run on the host, not a client in this process: with
  // hosts named in the config, only the host's own /etc/hosts knows them.
  const auto peers = cfg_.nodes.size() - 1;
  std::string missing;
  const bool ok = wait_until(
      [&] {
        const auto r = troupe(from, {"status", config_path(), "--format", "json"}, 30s);
        std::set<std::string> ready;
        std::istringstream lines(r.output);
        for (std::string line; std::getline(lines, line);) {
          const auto s = nlohmann::json::parse(line, nullptr, false);
          if (s.is_object() && s.contains("wire") && s["wire"].value("peers_connected", std::size_t{0}) >= peers)
            ready.insert(s.value("node", ""));
        }
        missing.clear();
        for (const auto& n : cfg_.nodes)
          if (!ready.count(n.name))
            missing += (missing.empty() ? "" : ", ") + n.name;
        if (!missing.empty())
          std::this_thread::sleep_for(100ms);  // a command each round: not in a spin
        return missing.empty();
      },
      timeout);
  if (!ok && why)
    *why = "not ready, seen from " + from + ": " + missing;
  return ok;
}

int hosts_cluster::stop(const std::string& host, std::chrono::seconds grace) {
  auto it = launchers_.find(host);
  if (it == launchers_.end() || it->second.empty() || !it->second.back()->running())
    return -1;
  auto& launcher = *it->second.back();
  kill(launcher.pid(), SIGTERM);  // it stops its nodes itself
  return launcher.wait(grace).code;
}

std::size_t hosts_cluster::kill_host(const std::string& host) {
  const auto n = lab_.pids(host).size();
  lab_.kill_all(host);
  auto it = launchers_.find(host);
  if (it != launchers_.end() && !it->second.empty())
    it->second.back()->wait(5s);  // reaped, its output kept
  return n;
}

void hosts_cluster::wipe(const std::string& host) {
  for (const auto* node : cfg_.nodes_on(host))
    std::filesystem::remove_all(node->data_dir);
}

run_result hosts_cluster::troupe(const std::string& host, const std::vector<std::string>& args,
                                 std::chrono::seconds timeout) const {
  std::vector<std::string> argv{troupe_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return lab_.run(host, argv, timeout);
}

std::string hosts_cluster::launcher_output(const std::string& host) const {
  std::string out;
  auto it = launchers_.find(host);
  if (it == launchers_.end())
    return out;
  for (std::size_t i = 0; i < it->second.size(); ++i)
    out += "---- launcher on " + host + ", start " + std::to_string(i + 1) + " ----\n" + it->second[i]->output();
  return out;
}

std::string hosts_cluster::diagnostics(std::size_t tail) const {
  std::string out = "config " + config_path() + "\n" + lab_.describe();
  for (const auto& host : lab_.hosts()) {
    const auto log = launcher_output(host);
    out += "==== " + host + " (last " + std::to_string(tail) + " bytes) ====\n"
           + (log.size() > tail ? "..." + log.substr(log.size() - tail) : log) + "\n";
  }
  return out;
}

} // namespace troupe::test
