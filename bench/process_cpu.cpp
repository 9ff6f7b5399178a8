#include "bench/process_cpu.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <vector>

namespace troupe::bench {

namespace {

/// The fields of /proc/<pid>/stat after the command name, which is in
/// parentheses and may itself hold spaces and parentheses: [0] is field 3
/// (state), [1] the parent's pid, [11] utime, [12] stime.
std::optional<std::vector<std::string>> stat_fields(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line))
    return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;)
    fields.push_back(std::move(f));
  if (fields.size() < 13)
    return std::nullopt;
  return fields;
}

std::optional<double> cpu_of(const std::string& path) {
  auto f = stat_fields(path);
  if (!f)
    return std::nullopt;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(std::stoull((*f)[11]) + std::stoull((*f)[12])) / ticks;
}

/// A thread's name, from /proc/<pid>/task/<tid>/comm.
std::string thread_name(const std::string& task_dir) {
  std::ifstream in(task_dir + "/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "?" : name;
}

/// Adds the CPU seconds of each thread of `pid` to `threads`, keyed
/// "`node`/thread name".
void add_threads(const std::string& node, pid_t pid, std::map<std::string, double>& threads) {
  const auto dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = opendir(dir.c_str());
  if (!tasks)
    return;
  while (auto* e = readdir(tasks)) {
    if (e->d_name[0] == '.')
      continue;
    const auto task = dir + "/" + e->d_name;
    if (auto c = cpu_of(task + "/stat"))
      threads[node + "/" + thread_name(task)] += *c;
  }
  closedir(tasks);
}

/// The value after `--node` on a process's command line, or "".
std::string node_argument(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/cmdline");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string_view> args;
  for (std::size_t at = 0; at < all.size();) {
    const auto end = all.find('\0', at);
    args.emplace_back(all.data() + at, (end == std::string::npos ? all.size() : end) - at);
    at = end == std::string::npos ? all.size() : end + 1;
  }
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--node")
      return std::string(args[i + 1]);
  return {};
}

} // namespace

std::optional<double> cpu_seconds(pid_t pid) { return cpu_of("/proc/" + std::to_string(pid) + "/stat"); }

double own_cpu_seconds() { return cpu_of("/proc/self/stat").value_or(0); }

std::map<std::string, pid_t> node_processes(pid_t launcher) {
  std::map<std::string, pid_t> nodes;
  DIR* proc = opendir("/proc");
  if (!proc)
    return nodes;
  const auto parent = std::to_string(launcher);
  while (auto* e = readdir(proc)) {
    const std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos)
      continue;
    auto f = stat_fields("/proc/" + pid + "/stat");
    if (!f || (*f)[1] != parent)
      continue;
    if (auto name = node_argument(pid); !name.empty())
      nodes[name] = static_cast<pid_t>(std::stol(pid));
  }
  closedir(proc);
  return nodes;
}

cpu_snapshot snapshot(const std::map<std::string, pid_t>& pids) {
  cpu_snapshot s;
  for (const auto& [name, pid] : pids) {
    if (auto c = cpu_seconds(pid)) {
      s.seconds[name] = *c;
      add_threads(name, pid, s.threads);
    } else
      s.gone += (s.gone.empty() ? "" : ", ") + name;
  }
  return s;
}

namespace {

std::map<std::string, double> delta_of(const std::map<std::string, double>& before,
                                       const std::map<std::string, double>& after) {
  std::map<std::string, double> d;
  for (const auto& [name, s] : after)
    if (auto it = before.find(name); it != before.end())
      d[name] = s - it->second;
  return d;
}

} // namespace

std::map<std::string, double> cpu_delta(const cpu_snapshot& before, const cpu_snapshot& after) {
  return delta_of(before.seconds, after.seconds);
}

std::map<std::string, double> thread_delta(const cpu_snapshot& before, const cpu_snapshot& after) {
  return delta_of(before.threads, after.threads);
}

double total(const std::map<std::string, double>& delta) {
  double t = 0;
  for (const auto& [name, s] : delta)
    t += s;
  return t;
}

} // namespace troupe::bench
