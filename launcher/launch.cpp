#include "launcher/launch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/runtime/restart_intensity.hpp"
#include "actors/runtime/systemd_notify.hpp"
#include "log/journal.hpp"

namespace troupe::cli {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One node under supervision.
//
//                 dies, within the limit
//      running --------------------------> backing_off
//       |  |  ^                                |   |
//       |  |  '---- backoff over: respawn -----'   |
//       |  |                                       |
//       |  '--- dies, past the limit ---> failed   |
//       |                                          |
//       '-- exits during a stop --> stopped <------'  stop cancels the restart
enum class state { running, backing_off, failed, stopped };

struct child {
  std::string name;
  state st = state::running;
  pid_t pid = -1;
  int out_fd = -1;  // read end of the child's stdout+stderr; outlives the pid until EOF
  std::string partial;
  bool ready = false;
  clock::time_point started;
  clock::time_point restart_at;           // while backing_off
  runtime::restart_intensity restarts{5, std::chrono::seconds(30)};  // set from the config's supervision
  int attempt = 0;                         // exponent of the next backoff
  bool announce_ready = false;  // restarted after the cluster was first ready
};

/// Where the launcher's own lines and its nodes' go: stdout, in the format
/// asked, each line opening with its journald priority when stdout is the
/// journal (the nodes' stdout is a pipe to here: they write none).
class output {
 public:
  explicit output(log::format f) : options_(log::options_for_stdout(f)) {}

  void fit(const std::string& name) { width_ = std::max(width_, name.size()); }

  /// One of the launcher's own lines, as a node writes one (its node is
  /// `launch`).
  [[gnu::format(printf, 3, 4)]] void note(spdlog::level::level_enum level, const char* fmt, ...) const {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::string out;
    const auto now = std::chrono::system_clock::now();
    if (options_.format == log::format::json) {
      log::append_line(out, options_, level, now, "launch", buf);
    } else {
      if (options_.journal)
        out += log::priority_prefix(level);
      column(out, "launch");
      log::append_line(out, {log::format::text, false}, level, now, "launch", buf);
    }
    write(out);
  }

  /// One line node `name` wrote. A JSON line goes on as it is; anything
  /// else a node writes outside its log (a crash report, a refusal before
  /// its log was set up) is trouble: an error.
  void node_line(const std::string& name, const std::string& line) const {
    std::string out;
    if (options_.format == log::format::json) {
      if (!line.empty() && line.front() == '{' && nlohmann::json::accept(line)) {
        if (options_.journal)
          out += log::priority_prefix(log::level_of_line(line).value_or(spdlog::level::err));
        out += line;
        out += '\n';
      } else {
        log::append_line(out, options_, spdlog::level::err, std::chrono::system_clock::now(), name, line);
      }
    } else {
      if (options_.journal)
        out += log::priority_prefix(log::level_of_line(line).value_or(spdlog::level::err));
      column(out, name);
      out += line;
      out += '\n';
    }
    write(out);
  }

 private:
  void column(std::string& out, const std::string& name) const {
    out += name;
    out.append(width_ > name.size() ? width_ - name.size() : 0, ' ');
    out += " | ";
  }

  static void write(const std::string& out) {
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }

  log::options options_;
  std::size_t width_ = 6;  // "launch"
};

/// Whether a node's line is its "ready:" line, in either format.
bool says_ready(const std::string& line) {
  return line.find("] ready:") != std::string::npos || line.find(R"("message":"ready:)") != std::string::npos;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " ("
           + strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

// "30", "0.1": a duration as the config spells it.
std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(d.count()) / 1000);
  return buf;
}

// Full jitter, so that nodes that died together do not come back in lockstep.
milliseconds backoff(const cluster::supervision_spec& s, int attempt, std::mt19937_64& rng) {
  return cluster::full_jitter(s.backoff_base, s.backoff_cap, attempt, rng);
}

pid_t spawn_node(const launch_options& opts, const std::string& node, int& out_fd, const sigset_t& blocked) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int e = errno;
    close(fds[0]);
    close(fds[1]);
    errno = e;
    return -1;
  }
  if (pid == 0) {
    // A node must not outlive its launcher, even one killed with SIGKILL.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
      _exit(1);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
    // Under systemd the launcher is the service: its nodes do not speak for it.
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    const char* format = opts.log_format == log::format::json ? "json" : "text";
    const char* argv[] = {opts.self_exe.c_str(), "node", opts.config_path.c_str(), "--node", node.c_str(),
                          "--log-format", format, nullptr};
    execv(opts.self_exe.c_str(), const_cast<char* const*>(argv));
    std::fprintf(stderr, "cannot start %s: %s\n", opts.self_exe.c_str(), std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  out_fd = fds[0];
  fcntl(out_fd, F_SETFL, O_NONBLOCK);
  return pid;
}

// Reads what is available; prints complete lines. Returns false on EOF.
bool pump(child& c, const output& out) {
  char buf[8192];
  for (;;) {
    const auto n = read(c.out_fd, buf, sizeof buf);
    if (n > 0) {
      c.partial.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0, nl;
      while ((nl = c.partial.find('\n', start)) != std::string::npos) {
        const auto line = c.partial.substr(start, nl - start);
        if (!c.ready && says_ready(line))
          c.ready = true;
        out.node_line(c.name, line);
        start = nl + 1;
      }
      c.partial.erase(0, start);
      continue;
    }
    if (n == 0) {
      if (!c.partial.empty())
        out.node_line(c.name, c.partial);
      c.partial.clear();
      return false;
    }
    return errno == EAGAIN || errno == EINTR;
  }
}

class supervisor {
 public:
  supervisor(const cluster::config& cfg, const launch_options& opts, const sigset_t& blocked, int sfd)
      : sup_(cfg.supervision), opts_(opts), blocked_(blocked), sfd_(sfd), rng_(std::random_device{}()),
        out_(opts.log_format) {
    for (const auto& n : cfg.nodes) {
      if (!opts.host.empty() && n.host != opts.host)
        continue;
      out_.fit(n.name);
      child c;
      c.name = n.name;
      c.restarts = runtime::restart_intensity(sup_.max_restarts, sup_.within);
      children_.push_back(std::move(c));
    }
    // A node that stayed up this long was healthy: its next death starts
    // the backoff from the base again.
    stable_after_ = std::max<milliseconds>(std::chrono::seconds(10), 2 * sup_.backoff_cap);
  }

  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  int run() {
    for (auto& c : children_) {
      if (!spawn(c)) {
        out_.note(spdlog::level::err, "cannot start node %s: %s", c.name.c_str(), std::strerror(errno));
        for (auto& o : children_)
          if (o.pid > 0)
            kill(o.pid, SIGTERM);
        return 1;
      }
      out_.note(spdlog::level::info, "started node %s (pid %d)", c.name.c_str(), static_cast<int>(c.pid));
    }
    while (busy()) {
      wait_for_events();
      tell_readiness();
      read_signals();
      reap();
      restart_due();
      escalate_stop();
    }
    if (!stopping_)
      out_.note(spdlog::level::warn, "no node is left to run");
    out_.note(spdlog::level::info, "all nodes stopped");
    return failed_ ? 1 : 0;
  }

 private:
  bool busy() const {
    return std::any_of(children_.begin(), children_.end(), [](const child& c) {
      return c.pid > 0 || c.out_fd >= 0 || c.st == state::backing_off;
    });
  }

  bool spawn(child& c) {
    c.pid = spawn_node(opts_, c.name, c.out_fd, blocked_);
    if (c.pid < 0)
      return false;
    c.st = state::running;
    c.ready = false;
    c.started = clock::now();
    return true;
  }

  // Sleeps until output, a signal, the next due restart or the next look
  // at the stop deadline, whichever comes first.
  void wait_for_events() {
    std::vector<pollfd> fds{{sfd_, POLLIN, 0}};
    owners_.assign(1, nullptr);
    for (auto& c : children_)
      if (c.out_fd >= 0) {
        fds.push_back({c.out_fd, POLLIN, 0});
        owners_.push_back(&c);
      }
    auto timeout = milliseconds(200);
    const auto now = clock::now();
    for (const auto& c : children_)
      if (c.st == state::backing_off)
        timeout = std::min(timeout, std::chrono::ceil<milliseconds>(std::max(c.restart_at - now, clock::duration{})));
    poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
    for (std::size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
        if (!pump(*owners_[i], out_))
          close_output(*owners_[i]);
  }

  void close_output(child& c) {
    if (c.out_fd < 0)
      return;
    close(c.out_fd);
    c.out_fd = -1;
    c.partial.clear();
  }

  void tell_readiness() {
    if (!all_ready_told_) {
      if (std::all_of(children_.begin(), children_.end(), [](const child& c) { return c.ready; })) {
        all_ready_told_ = true;
        out_.note(spdlog::level::info, "all %zu nodes ready (Ctrl-C stops them all)", children_.size());
        runtime::notify_ready("all " + std::to_string(children_.size()) + " nodes ready");
      }
      return;
    }
    for (auto& c : children_)
      if (c.ready && c.announce_ready) {
        c.announce_ready = false;
        out_.note(spdlog::level::info, "node %s is ready again", c.name.c_str());
      }
  }

  void read_signals() {
    signalfd_siginfo si;
    while (read(sfd_, &si, sizeof si) == sizeof si)
      if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
        stop_all(si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
  }

  void stop_all(const char* why) {
    if (stopping_)
      return;
    stopping_ = true;
    runtime::notify_stopping();
    kill_deadline_ = clock::now() + stop_grace;
    out_.note(spdlog::level::info, "stopping all nodes (%s)", why);
    for (auto& c : children_) {
      if (c.st == state::backing_off) {
        c.st = state::stopped;
        out_.note(spdlog::level::info, "cancelled the pending restart of node %s", c.name.c_str());
      }
      if (c.pid > 0)
        kill(c.pid, SIGTERM);
    }
  }

  void reap() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
      for (auto& c : children_)
        if (c.pid == pid) {
          c.pid = -1;
          if (stopping_) {
            c.st = state::stopped;
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
              out_.note(spdlog::level::warn, "node %s %s while stopping", c.name.c_str(),
                        describe_exit(status).c_str());
          } else {
            died(c, describe_exit(status));
          }
        }
  }

  // Outside a stop every death is a crash, a clean exit included: a node
  // is meant to run until the launcher stops it.
  void died(child& c, const std::string& how) {
    const auto now = clock::now();
    if (now - c.started >= stable_after_)
      c.attempt = 0;
    if (!c.restarts.admit(now)) {
      c.st = state::failed;
      failed_ = true;
      out_.note(spdlog::level::err, "node %s %s", c.name.c_str(), how.c_str());
      out_.note(spdlog::level::err, "node %s FAILED: %zu restarts within %s s (max-restarts %d); not restarting it",
                c.name.c_str(), c.restarts.recent(now) + 1, seconds_text(sup_.within).c_str(), sup_.max_restarts);
      return;
    }
    const auto delay = backoff(sup_, c.attempt, rng_);
    ++c.attempt;
    c.st = state::backing_off;
    c.restart_at = now + delay;
    out_.note(spdlog::level::warn, "node %s %s; restart %zu in %lld ms", c.name.c_str(), how.c_str(),
              c.restarts.recent(now), static_cast<long long>(delay.count()));
  }

  void restart_due() {
    const auto now = clock::now();
    for (auto& c : children_) {
      if (c.st != state::backing_off || now < c.restart_at)
        continue;
      // What the dead process wrote last belongs before the new one's lines.
      if (c.out_fd >= 0) {
        pump(c, out_);
        close_output(c);
      }
      if (!spawn(c)) {
        died(c, std::string("could not be started: ") + std::strerror(errno));
        continue;
      }
      c.announce_ready = all_ready_told_;
      out_.note(spdlog::level::info, "restarted node %s (pid %d)", c.name.c_str(), static_cast<int>(c.pid));
    }
  }

  void escalate_stop() {
    if (!stopping_ || clock::now() <= kill_deadline_)
      return;
    for (auto& c : children_)
      if (c.pid > 0) {
        out_.note(spdlog::level::warn, "node %s did not stop in time: sending SIGKILL", c.name.c_str());
        kill(c.pid, SIGKILL);
      }
    kill_deadline_ = clock::now() + stop_grace;
  }

  const cluster::supervision_spec sup_;
  const launch_options& opts_;
  const sigset_t blocked_;
  const int sfd_;
  std::mt19937_64 rng_;
  milliseconds stable_after_{};
  output out_;
  std::vector<child> children_;
  std::vector<child*> owners_;  // per pollfd, rebuilt every round
  bool stopping_ = false;
  bool failed_ = false;
  bool all_ready_told_ = false;
  clock::time_point kill_deadline_{};
};

} // namespace

int launch(const cluster::config& cfg, const launch_options& opts) {
  const auto hosts = cfg.host_names();
  std::string list;
  for (const auto& h : hosts)
    list += (list.empty() ? "" : ", ") + h;
  if (opts.host.empty() && hosts.size() > 1) {
    std::fprintf(stderr, "troupe: the config spreads its nodes over the hosts %s: start one host's nodes with "
                         "--host NAME\n", list.c_str());
    return 2;
  }
  if (!opts.host.empty() && std::find(hosts.begin(), hosts.end(), opts.host) == hosts.end()) {
    std::fprintf(stderr, "troupe: no node runs on host '%s' (the config's hosts: %s)\n", opts.host.c_str(),
                 list.c_str());
    return 2;
  }
  sigset_t blocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, nullptr);
  const int sfd = signalfd(-1, &blocked, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    std::perror("troupe: signalfd");
    return 1;
  }
  int code;
  {
    supervisor s(cfg, opts, blocked, sfd);
    code = s.run();
  }
  close(sfd);
  return code;
}

} // namespace troupe::cli
