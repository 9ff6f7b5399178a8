#include "tests/integration/hosts_lab.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace troupe::test {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string lab_prefix = "troupe-lab-";
const fs::path netns_dir = "/run/netns";
const fs::path etc_netns = "/etc/netns";
const char* const host_link = "link0";
const char* const bridge = "br0";

/// `name` on PATH, else in the sbin directories root's PATH usually has;
/// empty when nowhere.
std::string find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::istringstream dirs(path);
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && access((fs::path(d) / name).c_str(), X_OK) == 0)
      return (fs::path(d) / name).string();
  return "";
}

const std::string& ip_bin() {
  static const std::string bin = find_program("ip");
  return bin;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv)
    out += (out.empty() ? "" : " ") + a;
  return out;
}

/// Runs `argv` (an absolute program path first); throws with its output
/// when it fails.
void must(const std::vector<std::string>& argv) {
  const auto r = run_command(argv, 30s);
  if (r.code != 0)
    throw std::runtime_error("hosts_lab: `" + joined(argv) + "` failed (" + std::to_string(r.code) + "): " + r.output);
}

/// The pid a lab's namespace or /etc/netns entry is named after, or -1
/// when the name is not a lab's.
pid_t owner_of(const std::string& name) {
  if (name.rfind(lab_prefix, 0) != 0)
    return -1;
  const auto from = lab_prefix.size();
  const auto to = name.find('-', from);
  if (to == std::string::npos || to == from)
    return -1;
  try {
    return static_cast<pid_t>(std::stol(name.substr(from, to - from)));
  } catch (const std::exception&) {
    return -1;
  }
}

bool alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

/// The processes whose network namespace is the named one: what `ip netns
/// pids` prints, read here without starting a process each time.
std::vector<pid_t> pids_in(const std::string& ns) {
  struct stat target;
  if (stat((netns_dir / ns).c_str(), &target) != 0)
    return {};
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const auto name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    struct stat st;
    if (stat((e.path() / "ns" / "net").c_str(), &st) == 0 && st.st_ino == target.st_ino && st.st_dev == target.st_dev)
      out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

bool kill_all_in(const std::string& ns, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto pids = pids_in(ns);
    if (pids.empty())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    for (pid_t p : pids)
      kill(p, SIGKILL);
    std::this_thread::sleep_for(20ms);
  }
}

/// Empties and deletes namespace `ns` and its /etc/netns entry; never throws.
void remove_namespace(const std::string& ns) {
  if (!kill_all_in(ns, 5s))
    std::fprintf(stderr, "hosts_lab: processes are left in namespace %s\n", ns.c_str());
  if (fs::exists(netns_dir / ns))
    run_command({ip_bin(), "netns", "delete", ns}, 30s);
  std::error_code ec;
  fs::remove_all(etc_netns / ns, ec);
}

std::atomic<int> labs_made{0};

} // namespace

std::optional<std::string> hosts_lab::unavailable() {
  if (geteuid() != 0)
    return std::string("not root: network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN");
  if (ip_bin().empty())
    return std::string("no `ip` command (iproute2)");
  if (find_program("iptables").empty())
    return std::string("no `iptables` command");
  return std::nullopt;
}

void hosts_lab::sweep() {
  std::vector<std::string> stale;
  std::error_code ec;
  for (const auto& dir : {netns_dir, etc_netns})
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const auto name = e.path().filename().string();
      const pid_t owner = owner_of(name);
      if (owner > 0 && !alive(owner))
        stale.push_back(name);
    }
  for (const auto& ns : stale)
    remove_namespace(ns);
}

hosts_lab::hosts_lab(const std::vector<std::string>& hosts, const std::string& domain)
    : prefix_(lab_prefix + std::to_string(getpid()) + "-" + std::to_string(labs_made++) + "-"),
      domain_(domain),
      hosts_(hosts) {
  if (auto why = unavailable())
    throw std::runtime_error("hosts_lab: " + *why);
  if (hosts.empty() || hosts.size() > 9)
    throw std::runtime_error("hosts_lab: between 1 and 9 hosts");
  sweep();
  try {
    ip({"netns", "add", bridge_ns()});
    made_.push_back(bridge_ns());
    ip({"-n", bridge_ns(), "link", "add", bridge, "type", "bridge", "forward_delay", "0"});
    ip({"-n", bridge_ns(), "link", "set", bridge, "up"});
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      auto& h = state_[hosts[i]];
      h.ns = prefix_ + hosts[i];
      h.address = "198.18.0." + std::to_string(i + 1);
      ip({"netns", "add", h.ns});
      made_.push_back(h.ns);
      ip({"-n", bridge_ns(), "link", "add", bridge_port(hosts[i]), "type", "veth", "peer", "name", host_link, "netns",
          h.ns});
      ip({"-n", bridge_ns(), "link", "set", bridge_port(hosts[i]), "master", bridge, "up"});
      ip({"-n", h.ns, "link", "set", "lo", "up"});
      ip({"-n", h.ns, "link", "set", host_link, "up"});
      ip({"-n", h.ns, "address", "add", h.address + "/24", "dev", host_link});
    }
    write_hosts_files();
  } catch (...) {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it)
      remove_namespace(*it);
    throw;
  }
}

hosts_lab::~hosts_lab() {
  // Hosts first, so that nothing of theirs is left when the bridge goes.
  for (auto it = made_.rbegin(); it != made_.rend(); ++it)
    remove_namespace(*it);
}

const hosts_lab::host_state& hosts_lab::at(const std::string& host) const {
  auto it = state_.find(host);
  if (it == state_.end())
    throw std::runtime_error("hosts_lab: no host " + host);
  return it->second;
}

hosts_lab::host_state& hosts_lab::at(const std::string& host) {
  return const_cast<host_state&>(static_cast<const hosts_lab&>(*this).at(host));
}

std::string hosts_lab::ns(const std::string& host) const { return at(host).ns; }
std::string hosts_lab::address(const std::string& host) const { return at(host).address; }
std::string hosts_lab::dns_name(const std::string& host) const { return host + "." + domain_; }

std::string hosts_lab::bridge_port(const std::string& host) const { return "to-" + host.substr(0, 12); }

void hosts_lab::ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{ip_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  must(argv);
}

void hosts_lab::iptables(const std::string& host, const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"iptables", "-w"};
  argv.insert(argv.end(), args.begin(), args.end());
  must(in(host, argv));
}

std::vector<std::string> hosts_lab::in(const std::string& host, const std::vector<std::string>& argv) const {
  std::vector<std::string> out{ip_bin(), "netns", "exec", ns(host)};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

run_result hosts_lab::run(const std::string& host, const std::vector<std::string>& argv,
                          std::chrono::seconds timeout) const {
  return run_command(in(host, argv), timeout);
}

std::unique_ptr<background_command> hosts_lab::start(const std::string& host,
                                                     const std::vector<std::string>& argv) const {
  return std::make_unique<background_command>(in(host, argv));
}

std::vector<pid_t> hosts_lab::pids(const std::string& host) const { return pids_in(ns(host)); }

bool hosts_lab::kill_all(const std::string& host, std::chrono::milliseconds timeout) const {
  return kill_all_in(ns(host), timeout);
}

void hosts_lab::cut(const std::string& host, link_end end) { set_link(host, end, false); }
void hosts_lab::heal(const std::string& host, link_end end) { set_link(host, end, true); }

void hosts_lab::set_link(const std::string& host, link_end end, bool up) {
  auto& h = at(host);
  if (end == link_end::host)
    ip({"-n", h.ns, "link", "set", host_link, up ? "up" : "down"});
  else
    ip({"-n", bridge_ns(), "link", "set", bridge_port(host), up ? "up" : "down"});
  (end == link_end::host ? h.host_end_up : h.bridge_end_up) = up;
}

void hosts_lab::set_loss(const std::string& host, double probability) {
  auto& h = at(host);
  iptables(host, {"-F", "INPUT"});
  iptables(host, {"-F", "OUTPUT"});
  h.loss = 0;
  if (probability <= 0)
    return;
  char p[32];
  std::snprintf(p, sizeof p, "%.4f", probability);
  iptables(host, {"-A", "INPUT", "-i", host_link, "-m", "statistic", "--mode", "random", "--probability", p, "-j",
                  "DROP"});
  iptables(host, {"-A", "OUTPUT", "-o", host_link, "-m", "statistic", "--mode", "random", "--probability", p, "-j",
                  "DROP"});
  h.loss = probability;
}

std::uint64_t hosts_lab::dropped(const std::string& host) const {
  const auto r = run(host, {"iptables", "-w", "-L", "-v", "-n", "-x"}, 30s);
  if (r.code != 0)
    throw std::runtime_error("hosts_lab: cannot list " + host + "'s iptables rules: " + r.output);
  // Rule lines: pkts bytes target prot opt in out source destination ...
  std::uint64_t n = 0;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string pkts, bytes, target;
    if (words >> pkts >> bytes >> target && target == "DROP" && pkts.find_first_not_of("0123456789") == std::string::npos)
      n += std::stoull(pkts);
  }
  return n;
}

void hosts_lab::readdress(const std::string& host, const std::string& address) {
  if (address.rfind("198.18.0.", 0) != 0)
    throw std::runtime_error("hosts_lab: " + address + " is not in 198.18.0.0/24");
  auto& h = at(host);
  // The old one first: deleting an interface's primary address takes its
  // secondaries in the same subnet with it.
  ip({"-n", h.ns, "address", "del", h.address + "/24", "dev", host_link});
  ip({"-n", h.ns, "address", "add", address + "/24", "dev", host_link});
  h.address = address;
  write_hosts_files();
}

void hosts_lab::write_hosts_files() const {
  std::string text = "127.0.0.1 localhost\n::1 localhost\n";
  for (const auto& host : hosts_)
    text += at(host).address + " " + dns_name(host) + "\n";
  for (const auto& host : hosts_) {
    const auto dir = etc_netns / at(host).ns;
    fs::create_directories(dir);
    // In place (same inode): `ip netns exec` bind-mounted this very file
    // over the /etc/hosts of every process already running there.
    std::ofstream out(dir / "hosts", std::ios::out | std::ios::trunc);
    out << text;
    if (!out.flush())
      throw std::runtime_error("hosts_lab: cannot write " + (dir / "hosts").string());
  }
}

std::string hosts_lab::describe() const {
  std::string out;
  for (const auto& host : hosts_) {
    const auto& h = at(host);
    char loss[32];
    std::snprintf(loss, sizeof loss, "%.0f%%", 100 * h.loss);
    out += host + ": namespace " + h.ns + ", " + h.address + " (" + dns_name(host) + "), link "
           + (h.host_end_up ? "up" : "DOWN") + " at the host, " + (h.bridge_end_up ? "up" : "DOWN")
           + " at the bridge, loss " + loss + ", " + std::to_string(pids(host).size()) + " processes\n";
  }
  return out;
}

void hosts_lab::enter(const std::string& host) const {
  const int target = open((netns_dir / ns(host)).c_str(), O_RDONLY | O_CLOEXEC);
  const bool entered = target >= 0 && setns(target, CLONE_NEWNET) == 0;
  const int err = errno;
  if (target >= 0)
    close(target);
  if (!entered)
    throw std::runtime_error("hosts_lab: cannot enter the namespace of " + host + ": " + std::strerror(err));
}

hosts_lab::netns_guard::netns_guard(const hosts_lab& lab, const std::string& host) {
  own_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = open((netns_dir / lab.ns(host)).c_str(), O_RDONLY | O_CLOEXEC);
  const bool entered = own_ >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0;
  const int err = errno;
  if (target >= 0)
    close(target);
  if (!entered) {
    if (own_ >= 0)
      close(own_);
    throw std::runtime_error("hosts_lab: cannot enter the namespace of " + host + ": " + std::strerror(err));
  }
}

hosts_lab::netns_guard::~netns_guard() {
  // Staying in a lab's namespace would make every later socket of this
  // thread wrong, and the namespace outlive the lab: stop here instead.
  if (setns(own_, CLONE_NEWNET) != 0) {
    std::perror("hosts_lab: cannot leave a host's namespace");
    std::abort();
  }
  close(own_);
}

} // namespace troupe::test
