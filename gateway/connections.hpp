// Bounds how long the gateway's HTTP connections may hold a worker thread.
//
// cpp-httplib serves each connection on one worker thread, and its read
// timeout starts again with every byte: a client that sends a byte of a
// request's head every two seconds holds its thread for ever, and a few
// dozen such clients leave nothing for anyone else, before any signature
// is checked (helper-22's finding). httplib gives no hook on the accepted
// sockets, so this watch finds them itself: once a second it lists the
// process's sockets connected to the gateway's port (/proc/self/fd) and
// shuts down the reading side of each one open longer than its limit. The
// worker then sees the end of the stream: it finishes any answer it is
// writing and closes. A client's next call opens a new connection (the
// SDKs do that, and retry a call cut short, with its idempotency key).
// At a stop every connection is cut at once, so that SIGTERM is not held
// up by a client that never finishes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

namespace troupe::gateway {

class connection_watch {
 public:
  /// Watches connections to local TCP port `port`, cutting each after
  /// `limit`.
  connection_watch(std::uint16_t port, std::chrono::seconds limit);
  ~connection_watch();

  connection_watch(const connection_watch&) = delete;
  connection_watch& operator=(const connection_watch&) = delete;

  /// Cuts every connection now, and every later one as soon as it is seen.
  void cut_all();

  /// Connections cut for their age so far.
  std::uint64_t cut() const;

  /// One look at the sockets (the watch's thread calls it once a second).
  void sweep();

 private:
  struct seen {
    std::chrono::steady_clock::time_point since;
    int fd;
  };

  std::uint16_t port_;
  std::chrono::seconds limit_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool cutting_all_ = false;
  std::uint64_t cut_ = 0;
  std::map<std::uint64_t, seen> open_;  // by socket inode
  std::thread thread_;
};

}  // namespace troupe::gateway
