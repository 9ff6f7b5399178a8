#include "launcher/launch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

namespace troupe::cli {

namespace {

struct child {
  std::string name;
  pid_t pid = -1;
  int out_fd = -1;    // read end of the child's stdout+stderr
  std::string partial;
  bool ready = false;
};

void print_line(const std::string& name, std::size_t width, const std::string& line) {
  std::string out = name;
  out.resize(width, ' ');
  out += " | ";
  out += line;
  out += '\n';
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

void note(const char* fmt, const std::string& a, const std::string& b = {}) {
  std::fprintf(stdout, "launch | ");
  std::fprintf(stdout, fmt, a.c_str(), b.c_str());
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " ("
           + strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

pid_t spawn_node(const launch_options& opts, const std::string& node, int& out_fd, const sigset_t& blocked) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
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
    const char* argv[] = {opts.self_exe.c_str(), "node", opts.config_path.c_str(), "--node", node.c_str(), nullptr};
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
bool pump(child& c, std::size_t width) {
  char buf[8192];
  for (;;) {
    const auto n = read(c.out_fd, buf, sizeof buf);
    if (n > 0) {
      c.partial.append(buf, static_cast<std::size_t>(n));
      std::size_t start = 0, nl;
      while ((nl = c.partial.find('\n', start)) != std::string::npos) {
        const auto line = c.partial.substr(start, nl - start);
        if (!c.ready && line.find("] ready:") != std::string::npos)
          c.ready = true;
        print_line(c.name, width, line);
        start = nl + 1;
      }
      c.partial.erase(0, start);
      continue;
    }
    if (n == 0) {
      if (!c.partial.empty())
        print_line(c.name, width, c.partial);
      c.partial.clear();
      return false;
    }
    return errno == EAGAIN || errno == EINTR;
  }
}

} // namespace

int launch(const cluster::config& cfg, const launch_options& opts) {
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

  std::size_t width = 6;
  for (const auto& n : cfg.nodes)
    width = std::max(width, n.name.size());

  std::vector<child> children;
  for (const auto& n : cfg.nodes) {
    child c;
    c.name = n.name;
    c.pid = spawn_node(opts, n.name, c.out_fd, blocked);
    if (c.pid < 0) {
      std::fprintf(stderr, "troupe: cannot start node %s: %s\n", n.name.c_str(), std::strerror(errno));
      for (auto& o : children)
        kill(o.pid, SIGTERM);
      return 1;
    }
    note("started node %s (pid %s)", n.name, std::to_string(c.pid));
    children.push_back(std::move(c));
  }

  bool stopping = false;
  bool all_ready_told = false;
  int exit_code = 0;
  std::chrono::steady_clock::time_point kill_deadline{};
  auto live = [&] {
    std::size_t k = 0;
    for (const auto& c : children)
      k += c.pid > 0 || c.out_fd >= 0;
    return k;
  };
  auto stop_all = [&](const char* why) {
    if (stopping)
      return;
    stopping = true;
    kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    note("stopping all nodes (%s)", why);
    for (const auto& c : children)
      if (c.pid > 0)
        kill(c.pid, SIGTERM);
  };

  while (live() > 0) {
    std::vector<pollfd> fds{{sfd, POLLIN, 0}};
    std::vector<child*> owners{nullptr};
    for (auto& c : children)
      if (c.out_fd >= 0) {
        fds.push_back({c.out_fd, POLLIN, 0});
        owners.push_back(&c);
      }
    poll(fds.data(), fds.size(), 200);
    for (std::size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
        if (!pump(*owners[i], width)) {
          close(owners[i]->out_fd);
          owners[i]->out_fd = -1;
        }
    if (!all_ready_told && std::all_of(children.begin(), children.end(), [](const child& c) { return c.ready; })) {
      all_ready_told = true;
      note("all %s nodes ready%s", std::to_string(children.size()), " (Ctrl-C stops them all)");
    }
    signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
        stop_all(si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (auto& c : children)
        if (c.pid == pid) {
          c.pid = -1;
          if (!stopping) {
            note("node %s %s", c.name, describe_exit(status));
            exit_code = 1;
          } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            note("node %s %s while stopping", c.name, describe_exit(status));
          }
        }
    }
    if (stopping && std::chrono::steady_clock::now() > kill_deadline) {
      for (auto& c : children)
        if (c.pid > 0) {
          note("node %s did not stop in time: %s", c.name, "sending SIGKILL");
          kill(c.pid, SIGKILL);
        }
      kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    }
  }
  note("all nodes stopped%s", "");
  close(sfd);
  return exit_code;
}

} // namespace troupe::cli
