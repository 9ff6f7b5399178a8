#include "bench/raw_zmq.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "bench/process_cpu.hpp"
#include "tests/support/support.hpp"

namespace troupe::bench {

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

struct fd_pair {
  int read = -1;
  int write = -1;
};

fd_pair make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe2 failed");
  return {fds[0], fds[1]};
}

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const auto w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// Reads exactly `n` bytes; false on end of file (the writer died) or error.
bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const auto r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

/// The publisher's side (remote_thr): binds, as a troupe node's PUB does;
/// sends probes, [topic][] with an empty body, until the subscriber has
/// one (the slow joiner: PUB drops until the subscription arrives); then
/// the `n` messages; then waits for the subscriber to have them all, so
/// that its CPU includes its I/O thread's flushing.
int publisher(const std::string& ep, std::size_t n, const std::string& topic, const std::string& body, int ready,
              int done, int result) {
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  pub.set(zmq::sockopt::sndhwm, 0);  // no drops: measure throughput, not loss
  pub.set(zmq::sockopt::linger, 0);
  pub.bind(ep);
  for (pollfd p{ready, POLLIN, 0};; p.revents = 0) {
    pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
    pub.send(zmq::message_t(), zmq::send_flags::none);
    if (::poll(&p, 1, 1) > 0)
      break;
  }
  char c;
  if (!read_all(ready, &c, 1))
    return 1;
  const double cpu0 = own_cpu_seconds();
  for (std::size_t i = 0; i < n; ++i) {
    pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(body), zmq::send_flags::none);
  }
  if (!read_all(done, &c, 1))
    return 1;
  const double cpu = own_cpu_seconds() - cpu0;
  return write_all(result, &cpu, sizeof cpu) ? 0 : 1;
}

/// The subscriber's side (local_thr): connects and subscribes to `topic`;
/// the clock and its CPU start at the first real message and stop at the
/// last, as local_thr's do.
int subscriber(const std::string& ep, std::size_t n, const std::string& topic, int ready, int done, int result) {
  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::rcvhwm, 0);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvtimeo, 10000);  // a lost message fails the run instead of hanging it
  sub.set(zmq::sockopt::subscribe, topic);
  sub.connect(ep);
  zmq::message_t t, b;
  const auto next = [&] { return sub.recv(t) && t.more() && sub.recv(b); };
  do {
    if (!next())
      return 1;
  } while (b.size() != 0);
  const char go = 1;
  if (!write_all(ready, &go, 1))
    return 1;
  do {  // probes still on their way
    if (!next())
      return 1;
  } while (b.size() == 0);
  const auto start = clock_type::now();
  const double cpu0 = own_cpu_seconds();
  for (std::size_t i = 1; i < n; ++i)
    if (!next())
      return 1;
  const double figures[2] = {seconds_since(start), own_cpu_seconds() - cpu0};
  if (!write_all(done, &go, 1))
    return 1;
  return write_all(result, figures, sizeof figures) ? 0 : 1;
}

/// Forks a child that dies with the bench and runs `body`, its result the
/// exit code; every fd in `close_in_child` is closed in the child first.
template <class Body>
pid_t fork_side(const std::vector<int>& close_in_child, Body body) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0)
    throw std::runtime_error("fork failed");
  if (pid > 0)
    return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent)
    _exit(1);
  for (int fd : close_in_child)
    ::close(fd);
  int code = 3;
  try {
    code = body();
  } catch (...) {
    code = 2;
  }
  _exit(code);
}

} // namespace

raw_result raw_one_process(std::size_t n, std::size_t size) {
  zmq::context_t ctx(1);
  zmq::socket_t pub(ctx, zmq::socket_type::pub), sub(ctx, zmq::socket_type::sub);
  pub.set(zmq::sockopt::sndhwm, 0);  // no drops: measure throughput, not loss
  sub.set(zmq::sockopt::rcvhwm, 0);
  pub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::linger, 0);
  const auto ep = test::free_endpoint();
  pub.bind(ep);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(ep);
  // Wait out the slow joiner: send probes until one arrives.
  for (;;) {
    pub.send(zmq::str_buffer("probe"), zmq::send_flags::none);
    zmq::message_t m;
    if (sub.recv(m, zmq::recv_flags::dontwait) && m.to_string_view() == "probe")
      break;
    std::this_thread::sleep_for(1ms);
  }
  zmq::message_t drain;
  while (sub.recv(drain, zmq::recv_flags::dontwait)) {
  }
  const std::string topic = "PaymentConfirmed";
  const std::string body(size, 'x');
  const auto start = clock_type::now();
  const double cpu0 = own_cpu_seconds();
  std::thread producer([&] {
    for (std::size_t i = 0; i < n; ++i) {
      pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(body), zmq::send_flags::none);
    }
  });
  for (std::size_t i = 0; i < n; ++i) {
    zmq::message_t t, b;
    (void)sub.recv(t);
    (void)sub.recv(b);
  }
  const double s = seconds_since(start);
  producer.join();
  const double cpu = own_cpu_seconds() - cpu0;
  raw_result r;
  r.msgs_per_s = n / s;
  r.cpu_us_per_msg = 1e6 * cpu / n;
  return r;
}

raw_result raw_two_processes(std::size_t n, const std::string& topic, const std::string& body, double timeout_s) {
  const auto ep = test::free_endpoint();
  return raw_two_processes(n, topic, body, raw_link{ep, ep, {}, {}}, timeout_s);
}

raw_result raw_two_processes(std::size_t n, const std::string& topic, const std::string& body, const raw_link& link,
                             double timeout_s) {
  if (n < 2)
    throw std::invalid_argument("raw_two_processes needs at least two messages");
  const auto ready = make_pipe(), done = make_pipe(), pub_out = make_pipe(), sub_out = make_pipe();
  const std::vector<int> all = {ready.read, ready.write, done.read,    done.write,
                                pub_out.read, pub_out.write, sub_out.read, sub_out.write};
  const auto except = [&](std::initializer_list<int> keep) {
    std::vector<int> v;
    for (int fd : all)
      if (std::find(keep.begin(), keep.end(), fd) == keep.end())
        v.push_back(fd);
    return v;
  };
  const pid_t pub = fork_side(except({ready.read, done.read, pub_out.write}), [&] {
    if (link.enter_publisher)
      link.enter_publisher();
    return publisher(link.bind, n, topic, body, ready.read, done.read, pub_out.write);
  });
  const pid_t sub = fork_side(except({ready.write, done.write, sub_out.write}), [&] {
    if (link.enter_subscriber)
      link.enter_subscriber();
    return subscriber(link.dial, n, topic, ready.write, done.write, sub_out.write);
  });
  for (int fd : all)
    if (fd != pub_out.read && fd != sub_out.read)
      ::close(fd);
  // Each side writes its figures when done, or dies and closes its pipe.
  double pub_cpu = 0, sub_figures[2] = {0, 0};
  bool ok = true;
  const auto deadline = clock_type::now() + std::chrono::duration<double>(timeout_s);
  const auto await = [&](int fd, void* out, std::size_t size) {
    pollfd p{fd, POLLIN, 0};
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
      if (left <= 0)
        return false;
      const int r = ::poll(&p, 1, static_cast<int>(left));
      if (r > 0)
        return read_all(fd, out, size);
      if (r < 0 && errno != EINTR)
        return false;
    }
  };
  ok = await(sub_out.read, sub_figures, sizeof sub_figures) && await(pub_out.read, &pub_cpu, sizeof pub_cpu);
  ::close(pub_out.read);
  ::close(sub_out.read);
  if (!ok) {
    kill(pub, SIGKILL);
    kill(sub, SIGKILL);
  }
  int pub_status = 0, sub_status = 0;
  waitpid(pub, &pub_status, 0);
  waitpid(sub, &sub_status, 0);
  if (!ok || !WIFEXITED(pub_status) || WEXITSTATUS(pub_status) != 0 || !WIFEXITED(sub_status)
      || WEXITSTATUS(sub_status) != 0)
    throw std::runtime_error("raw libzmq in two processes failed (publisher status " + std::to_string(pub_status)
                             + ", subscriber status " + std::to_string(sub_status) + ")");
  raw_result r;
  r.msgs_per_s = (n - 1) / sub_figures[0];  // local_thr's clock starts at the first message
  r.pub_cpu_us_per_msg = 1e6 * pub_cpu / n;
  r.sub_cpu_us_per_msg = 1e6 * sub_figures[1] / (n - 1);
  r.cpu_us_per_msg = r.pub_cpu_us_per_msg + r.sub_cpu_us_per_msg;
  return r;
}

} // namespace troupe::bench
