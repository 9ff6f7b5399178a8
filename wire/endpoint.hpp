// A node's wire endpoint: the one thread that owns all its ZeroMQ sockets.
//
// libzmq sockets are not thread-safe and CAF moves actors between threads,
// so every socket of a node lives on this I/O thread: a PUB socket that
// publishes the node's events, a SUB socket connected to every peer's PUB,
// and a ROUTER socket for control requests. It is also the node's event
// loop: it hands what arrives to callbacks, runs timers and the tasks other
// threads post, and before it sleeps calls `on_idle` (where the node commits
// its store). Other threads talk to it only through `publish`, `reply`,
// `send_peer` and `post`, which queue and wake the thread through an
// eventfd; on the thread itself they only queue, and what is queued is sent
// at the end of each pass. Each peer has a SUB and a
// DEALER of its own, so that what arrives is known by its connection; a
// connection that libzmq closes for good (a protocol error) is made anew.
// Malformed frames are counted, dropped, and logged per peer endpoint,
// rate-limited.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wire/envelope.hpp"
#include "wire/error.hpp"
#include "wire/security.hpp"

namespace troupe::wire {

/// Another node: a SUB to its PUB (when `pub` is set) and a DEALER to its
/// control socket (when `control` is set), for acks and replays.
struct peer_node {
  std::string node;
  std::string pub;
  std::string control;
  std::string public_key;  // Z85; with CURVE on, the server key of both
};

/// CURVE on every socket: the PUB and the ROUTER are servers that admit
/// only what `admitted` lists (per domain: nodes on the PUB, nodes and
/// clients on the ROUTER), and every SUB and DEALER is a client that
/// authenticates its peer by the peer's public key.
struct endpoint_security {
  key_pair own;
  zap_policy admitted;
};

struct endpoint_options {
  std::string node;                 // for log lines
  std::string pub_bind;             // e.g. tcp://127.0.0.1:7101
  std::string control_bind;
  std::vector<peer_node> peers;
  std::vector<std::string> topics;  // subscriptions; "" means everything
  int send_hwm = 200000;            // messages; PUB drops past it (replay comes later)
  int heartbeat_ms = 1000;          // ZMTP heartbeats: a hung peer is noticed
  int heartbeat_timeout_ms = 5000;
  std::optional<endpoint_security> security;  // none: an open cluster
};

/// Counters, readable from any thread.
struct endpoint_stats {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> peers_connected{0};
  std::atomic<std::uint64_t> reconnects{0};  // connections made anew after libzmq closed them for good
  std::atomic<std::uint64_t> refused{0};     // connections the ZAP handler turned away
};

struct endpoint_handlers {
  /// Called on the I/O thread with the well-formed events of one drain of
  /// peer `from`'s SUB (at most a few hundred), in arrival order: one
  /// hand-off per burst, not per event.
  std::function<void(const std::string& from, std::vector<envelope>)> on_events;
  /// Called on the I/O thread for every control request; answer later with
  /// `reply(identity, ...)` from any thread. `user` is the name ZAP gave the
  /// connection's key (empty on an open cluster): who sent it.
  std::function<void(std::string identity, std::string user, std::string body)> on_request;
  /// Called on the I/O thread for every heartbeat published by peer `from`.
  std::function<void(const std::string& from, std::string body)> on_heartbeat;
  /// Called on the I/O thread for every message a peer sends back on the
  /// DEALER connected to it (answers to replay requests).
  std::function<void(const std::string& node, std::string body)> on_peer;
  /// Called on the I/O thread once the sockets are bound, before anything
  /// else runs there.
  std::function<void(class endpoint&)> on_start;
  /// Called on the I/O thread at the end of every pass, before what was
  /// queued is sent; true when it left work for another pass at once.
  std::function<bool()> on_idle;
  /// Called on the I/O thread when it stops, after its last pass.
  std::function<void()> on_stop;
  /// Called on the I/O thread when a callback, task or timer threw: the
  /// thread stops after it. Without it the exception ends the process.
  std::function<void(const std::string& why)> on_fatal;
  /// Log sink: level 0 info, 1 warning, 2 error.
  std::function<void(int level, const std::string& line)> log;
};

/// The topic frame of an event: its detail-type and a NUL, so that a
/// subscription to "Booking" does not also receive "BookingCreated".
std::string topic_of(std::string_view detail_type);

class endpoint {
 public:
  /// Binds and connects on a new I/O thread. Fails with `io` when an
  /// endpoint cannot be bound (address in use, bad address).
  static result<std::unique_ptr<endpoint>> start(endpoint_options opts, endpoint_handlers handlers);

  ~endpoint();
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  /// Queues an encoded envelope for publishing. Thread-safe.
  void publish(std::string topic, std::string bytes);
  /// Queues several (topic, envelope) pairs, in order, under one lock.
  void publish(std::vector<std::pair<std::string, std::string>> frames);
  /// Queues a reply to a control request. Thread-safe.
  void reply(std::string identity, std::string bytes);
  /// Queues a message to peer `node`'s control socket. Thread-safe; a
  /// message to an unknown node is dropped.
  void send_peer(const std::string& node, std::string bytes);
  /// Runs `task` on the I/O thread, soon. Thread-safe.
  void post(std::function<void()> task);
  /// Runs `task` on the I/O thread at `when` or soon after. Only on the
  /// I/O thread.
  void at(std::chrono::steady_clock::time_point when, std::function<void()> task);
  /// Stops the I/O thread and closes every socket. Idempotent.
  void stop();

  const endpoint_stats& stats() const;

 private:
  struct impl;
  explicit endpoint(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::wire
