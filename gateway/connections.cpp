#include "gateway/connections.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdlib>
#include <set>

namespace troupe::gateway {

namespace {

// The local port of a TCP socket, or 0.
std::uint16_t local_port(int fd) {
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0)
    return 0;
  if (a.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

bool connected(int fd) {
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  return getpeername(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0;
}

// The socket's inode when `fd` is a socket, else 0.
std::uint64_t socket_inode(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
    return 0;
  return static_cast<std::uint64_t>(st.st_ino);
}

}  // namespace

connection_watch::connection_watch(std::uint16_t port, std::chrono::seconds limit)
    : port_(port), limit_(limit), thread_([this] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
          lock.unlock();
          sweep();
          lock.lock();
          wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_ || cutting_all_; });
          if (cutting_all_) {
            // Keep cutting until the server's threads are gone: a client
            // may connect while it stops.
            lock.unlock();
            sweep();
            lock.lock();
            wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
          }
        }
      }) {}

connection_watch::~connection_watch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void connection_watch::cut_all() {
  {
    std::lock_guard lock(mutex_);
    cutting_all_ = true;
  }
  wake_.notify_all();
}

std::uint64_t connection_watch::cut() const {
  std::lock_guard lock(mutex_);
  return cut_;
}

void connection_watch::sweep() {
  const auto now = std::chrono::steady_clock::now();
  std::set<std::uint64_t> present;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir)
    return;
  std::lock_guard lock(mutex_);
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir))
      continue;
    const auto inode = socket_inode(static_cast<int>(fd));
    if (inode == 0 || local_port(static_cast<int>(fd)) != port_ || !connected(static_cast<int>(fd)))
      continue;  // not a socket, another port, or the listening socket
    present.insert(inode);
    auto [it, fresh] = open_.try_emplace(inode, seen{now, static_cast<int>(fd)});
    if (!fresh && it->second.fd != static_cast<int>(fd))
      it->second = seen{now, static_cast<int>(fd)};
    if (cutting_all_ || now - it->second.since >= limit_) {
      // The fd is checked again just before: it may have been closed and
      // its number taken by another socket since it was listed.
      if (socket_inode(static_cast<int>(fd)) == inode && shutdown(static_cast<int>(fd), SHUT_RD) == 0 && !cutting_all_)
        ++cut_;
      it->second.since = now + std::chrono::hours(24);  // once is enough
    }
  }
  closedir(dir);
  for (auto it = open_.begin(); it != open_.end();)
    it = present.count(it->first) ? std::next(it) : open_.erase(it);
}

}  // namespace troupe::gateway
