#include "tests/integration/cluster.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cluster/config.hpp"
#include "launcher/common.hpp"

namespace troupe::test {

std::string troupe_bin() {
  const char* bin = std::getenv("TROUPE_BIN");
  if (!bin)
    throw std::runtime_error("TROUPE_BIN is not set: run the tests through meson");
  return bin;
}

namespace {

/// Starts `argv` with its stdout and stderr on `out`; with `die_with_parent`
/// it is killed when the test process dies.
pid_t spawn(const std::vector<std::string>& argv, int out, bool die_with_parent) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("fork");
  if (pid == 0) {
    if (die_with_parent) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent)
        _exit(1);
    }
    dup2(out, 1);
    dup2(out, 2);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

} // namespace

run_result run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe");
  const pid_t pid = spawn(argv, fds[1], false);
  close(fds[1]);
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    const auto n = read(fds[0], buf, sizeof buf);
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
}

background_command::background_command(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe");
  pid_ = spawn(argv, fds[1], true);
  close(fds[1]);
  const int fd = fds[0];
  reader_ = std::thread([this, fd] {
    char buf[4096];
    for (;;) {
      const auto n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      std::lock_guard<std::mutex> lock(mu_);
      out_.append(buf, static_cast<std::size_t>(n));
    }
    close(fd);
  });
}

background_command::~background_command() {
  if (!reap(false)) {
    kill(pid_, SIGKILL);
    reap(true);
  }
  if (reader_.joinable())
    reader_.join();
}

bool background_command::reap(bool block) {
  if (exited_)
    return true;
  int status = 0;
  pid_t r;
  do
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r != pid_)
    return false;
  exited_ = true;
  code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return true;
}

bool background_command::running() { return !reap(false); }

run_result background_command::wait(std::chrono::seconds timeout) {
  if (!wait_until([this] { return reap(false); }, timeout)) {
    kill(pid_, SIGKILL);
    reap(true);
    code_ = -1;
  }
  if (reader_.joinable())
    reader_.join();
  return {code_, output(), signal_};
}

std::string background_command::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_;
}

void cluster::make_keys(const std::string& name) const {
  std::filesystem::create_directories(dir() / "keys");
  auto k = wire::make_key_pair();
  if (!k)
    throw std::runtime_error(k.err().to_string());
  if (auto w = wire::write_key_pair(dir() / "keys", name, *k); !w)
    throw std::runtime_error(w.err().to_string());
}

void cluster::make_access_secret(const std::string& name) const {
  // 40 characters, as AWS makes a secret access key, readable by its owner only.
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::random_device rd;
  std::string secret;
  for (int i = 0; i < 40; ++i)
    secret += alphabet[rd() % 64];
  std::filesystem::create_directories(dir() / "keys");
  const auto path = dir() / "keys" / (name + ".aws");
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throw std::runtime_error("cannot write " + path.string());
  secret += "\n";
  const bool written = write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
  close(fd);
  if (!written)
    throw std::runtime_error("cannot write " + path.string());
}

std::string cluster::key_lines(const std::string& name, const std::string& indent) const {
  return indent + "public-key-file: keys/" + name + ".pub\n" + indent + "secret-key-file: keys/" + name + ".key\n";
}

const char* const tester_client =
    "  tester: {public-key-file: keys/tester.pub, secret-key-file: keys/tester.key, "
    "roles: [producer, reader, operator]}\n";

cluster::cluster(const std::map<std::string, std::vector<std::string>>& nodes, const std::string& body,
                 const std::string& durability, keys k)
    : keyed_(k == keys::on) {
  std::ostringstream y;
  y << "cluster: test\ndata-dir: data\nnodes:\n";
  for (const auto& [name, services] : nodes) {
    const auto pub = free_endpoint(), ctl = free_endpoint();
    control_[name] = ctl;
    y << "  " << name << ":\n    endpoints: {pub: \"" << pub << "\", control: \"" << ctl << "\"}\n    services: [";
    for (std::size_t i = 0; i < services.size(); ++i)
      y << (i ? ", " : "") << services[i];
    y << "]\n";
    if (!durability.empty())
      y << "    durability: " << durability << "\n";
    if (keyed_) {
      make_keys(name);
      y << key_lines(name, "    ");
    }
  }
  y << body;
  if (keyed_) {
    make_keys("tester");
    y << (body.empty() || body.back() == '\n' ? "" : "\n") << "clients:\n" << tester_client;
  }
  std::ofstream(config_path()) << y.str();
}

void cluster::add_client(const std::string& name, const std::string& roles, const std::string& extra) {
  make_keys(name);
  std::ofstream(config_path(), std::ios::app) << "  " << name << ": {public-key-file: keys/" << name
                                              << ".pub, secret-key-file: keys/" << name << ".key, roles: " << roles
                                              << extra << "}\n";
}

wire::key_pair cluster::stranger_keys(const std::string& name) const {
  make_keys(name);
  return keys_of(name);
}

wire::key_pair cluster::keys_of(const std::string& name) const {
  auto secret = wire::read_secret_key(dir() / "keys" / (name + ".key"));
  if (!secret)
    throw std::runtime_error(secret.err().to_string());
  return {*wire::public_of(*secret), *secret};
}

std::optional<wire::curve_client> cluster::curve(const std::string& node, const std::string& client) const {
  if (!keyed_)
    return std::nullopt;
  auto secret = wire::read_secret_key(dir() / "keys" / (client + ".key"));
  std::ifstream in(dir() / "keys" / (node + ".pub"));
  std::string server;
  std::getline(in, server);
  if (!secret || server.empty())
    throw std::runtime_error("no keys for client " + client + " or node " + node + " in " + (dir() / "keys").string());
  return wire::curve_client{{*wire::public_of(*secret), *secret}, server};
}

std::string source_file(const std::string& relative) {
  const char* root = std::getenv("TROUPE_SOURCE_ROOT");
  return (std::filesystem::path(root ? root : ".") / relative).string();
}

cluster::cluster(const shipped& config) {
  std::ifstream in(source_file(config.file));
  if (!in)
    throw std::runtime_error("cannot read " + source_file(config.file));
  // Lines are told apart by the section they are in (the last top-level
  // key) and their shape; anything else is kept byte for byte.
  static const std::regex section_re(R"(^([A-Za-z][A-Za-z0-9_-]*):.*)");
  static const std::regex data_dir_re(R"(^data-dir:\s*[^\s#]+(.*)$)");
  static const std::regex node_re(R"(^  ([A-Za-z0-9_-]+):\s*(#.*)?$)");
  static const std::regex endpoints_re(
      R"(^(\s+endpoints:\s*)\{pub:\s*"[^"]*",\s*control:\s*"[^"]*"(,\s*metrics:\s*"[^"]*")?\}(.*)$)");
  static const std::regex maildir_re(R"(^(\s+maildir:\s*)[^\s#]+(.*)$)");
  static const std::regex key_file_re(R"(^(.*(public|secret)-key-file:\s*)[^\s,}#]*/([A-Za-z0-9_-]+)\.(pub|key)(.*)$)");
  static const std::regex client_re(R"(^  ([A-Za-z0-9_-]+):.*)");
  // The gateway: a free port instead of its listen address, and each
  // access key's secret made in <dir>/keys (a test never touches 8088 or
  // data/keys).
  static const std::regex listen_re(R"(^(\s+listen:\s*)[^\s#]+(.*)$)");
  static const std::regex access_secret_re(R"(^(\s+secret-key-file:\s*)[^\s#]*?([A-Za-z0-9_-]+)\.aws(.*)$)");
  std::ostringstream y;
  std::string section, node;
  std::size_t nodes = 0, endpoints = 0, data_dirs = 0, maildirs = 0;
  std::set<std::string> key_names, access_secrets;
  bool clients = false;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, section_re))
      section = m[1].str();
    if (config.k == keys::off && (section == "clients" || std::regex_match(line, key_file_re)))
      continue;
    // Key files move into <dir>/keys, where they are made below.
    if (std::regex_match(line, m, key_file_re)) {
      key_names.insert(m[3].str());
      line = m[1].str() + "keys/" + m[3].str() + "." + m[4].str() + m[5].str();
    }
    if (std::regex_match(line, m, section_re)) {
      section = m[1].str();
      if (section == "services" && !config.services.empty())
        y << config.services;
    }
    if (section == "services" && !config.services.empty())
      continue;
    if (section == "data-dir" && std::regex_match(line, m, data_dir_re)) {
      line = "data-dir: data" + m[1].str();
      ++data_dirs;
    } else if (section == "nodes" && std::regex_match(line, m, node_re)) {
      node = m[1].str();
      ++nodes;
    } else if (section == "nodes" && std::regex_match(line, m, endpoints_re)) {
      const auto pub = free_endpoint(), ctl = free_endpoint();
      control_[node] = ctl;
      std::string metrics;
      if (m[2].matched) {
        metrics_[node] = "127.0.0.1:" + std::to_string(free_port());
        metrics = ", metrics: \"" + metrics_[node] + "\"";
      }
      line = m[1].str() + "{pub: \"" + pub + "\", control: \"" + ctl + "\"" + metrics + "}" + m[3].str();
      if (!config.durability.empty())
        line += "\n" + std::string(line.find_first_not_of(' '), ' ') + "durability: " + config.durability;
      ++endpoints;
    } else if (section == "services" && std::regex_match(line, m, maildir_re)) {
      line = m[1].str() + "mail" + m[2].str();
      ++maildirs;
    } else if (section == "gateway" && std::regex_match(line, m, listen_re)) {
      line = m[1].str() + "127.0.0.1:" + std::to_string(free_port()) + m[2].str();
    } else if (section == "gateway" && std::regex_match(line, m, access_secret_re)) {
      access_secrets.insert(m[2].str());
      line = m[1].str() + "keys/" + m[2].str() + ".aws" + m[3].str();
    }
    y << line << "\n";
    if (section == "clients" && line.rfind("clients:", 0) == 0) {
      y << tester_client;
      clients = true;
    }
  }
  keyed_ = !key_names.empty();
  for (const auto& name : key_names)
    make_keys(name);
  for (const auto& name : access_secrets)
    make_access_secret(name);
  if (data_dirs != 1 || nodes == 0 || endpoints != nodes || control_.size() != nodes || maildirs > 1)
    throw std::runtime_error(config.file + ": expected one data-dir and one endpoints line per node (found "
                             + std::to_string(data_dirs) + " data-dir, " + std::to_string(nodes) + " nodes, "
                             + std::to_string(endpoints) + " endpoints, " + std::to_string(maildirs) + " maildir)");
  y << config.extra;
  if (keyed_) {
    make_keys("tester");
    if (!clients)
      y << "clients:\n" << tester_client;
  }
  std::ofstream(config_path()) << y.str();
}

cluster::~cluster() {
  if (pgid_ > 0) {
    stop(std::chrono::seconds(5));
  }
  for (auto& [name, pid] : nodes_)
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
}

void cluster::start_node(const std::string& name) {
  const auto bin = troupe_bin();
  const auto log = (dir() / (name + ".log")).string();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(1);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(bin.c_str(), bin.c_str(), "node", config_path().c_str(), "--node", name.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  nodes_[name] = pid;
}

bool cluster::node_answers(const std::string& name, std::chrono::milliseconds timeout) {
  auto cfg = cli::load_config(config_path());
  if (!cfg)
    return false;
  const auto* node = cfg->find_node(name);
  return wait_until([&] { return static_cast<bool>(cli::status(*cfg, *node, std::chrono::milliseconds(300))); }, timeout);
}

void cluster::signal_node(const std::string& name, int sig) {
  auto it = nodes_.find(name);
  if (it != nodes_.end() && it->second > 0)
    kill(it->second, sig);
}

int cluster::wait_node(const std::string& name, std::chrono::seconds timeout) {
  auto it = nodes_.find(name);
  if (it == nodes_.end() || it->second <= 0)
    return -1;
  const pid_t pid = it->second;
  int status = 0;
  const auto reaped = [&](int flags) {
    pid_t r;
    do
      r = waitpid(pid, &status, flags);
    while (r < 0 && errno == EINTR);
    return r == pid;
  };
  it->second = -1;
  if (!wait_until([&] { return reaped(WNOHANG); }, timeout)) {
    std::fprintf(stderr, "wait_node: node %s (pid %d) did not exit within %lld s; killed it\n", name.c_str(),
                 static_cast<int>(pid), static_cast<long long>(timeout.count()));
    kill(pid, SIGKILL);
    reaped(0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string cluster::node_output(const std::string& name) const {
  std::ifstream in(dir() / (name + ".log"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void cluster::start(const std::vector<std::string>& launch_args) {
  const auto bin = troupe_bin();
  const auto log = (dir() / "launch.log").string();
  const auto config = config_path();
  std::vector<const char*> argv{bin.c_str(), "launch", config.c_str()};
  for (const auto& a : launch_args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    // A test killed by its timeout runs no destructor: the launcher then
    // stops its nodes and exits on its own, leaving nothing running.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(1);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(bin.c_str(), const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  setpgid(pid, pid);
  pgid_ = pid;
  auto cfg = cli::load_config(config_path());
  if (!cfg)
    throw std::runtime_error("the test config is invalid");
  if (auto r = cli::wait_ready(*cfg, std::chrono::seconds(30)); !r)
    throw std::runtime_error("cluster did not come up: " + r.err().message + "\n" + launcher_output());
}

int cluster::stop(std::chrono::seconds grace) {
  if (pgid_ <= 0)
    return -1;
  kill(pgid_, SIGTERM);  // the launcher stops its nodes itself
  int code = -1;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    int status;
    const auto r = waitpid(pgid_, &status, WNOHANG);
    if (r == pgid_) {
      code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pgid_, SIGKILL);
      waitpid(pgid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Nodes die with their launcher (PDEATHSIG); give them a moment, then
  // make sure of it.
  wait_until([&] { return !any_process_left(); }, std::chrono::seconds(5));
  if (any_process_left())
    kill(-pgid_, SIGKILL);
  last_pgid_ = pgid_;
  pgid_ = -1;
  return code;
}

bool cluster::any_process_left() const {
  const pid_t g = pgid_ > 0 ? pgid_ : last_pgid_;
  if (g <= 0)
    return false;
  // Reap anything of ours first so zombies do not count.
  return kill(-g, 0) == 0 || errno != ESRCH;
}

std::string cluster::launcher_output() const {
  std::ifstream in(dir() / "launch.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace troupe::test
