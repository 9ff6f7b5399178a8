#include "wire/endpoint.hpp"

#include "wire/log_limit.hpp"
#include "wire/stream.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <optional>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace troupe::wire {

std::string topic_of(std::string_view detail_type) {
  std::string t(detail_type);
  t.push_back('\0');
  return t;
}

namespace {

enum class route { publish, reply, peer };

struct outbound {
  route kind;
  std::string first;  // topic, identity or peer node
  std::string body;
};

constexpr auto max_frame_bytes = static_cast<std::int64_t>(max_event_frame);
constexpr int drain_batch = 512;  // messages per socket per wake-up, for fairness
// How often the wire thread reads every SUB and monitor whether or not its
// fd said so, and the longest it sleeps.
constexpr auto sweep_every = std::chrono::milliseconds(100);

} // namespace

/// A socket that connects to one peer, and the monitor that tells when its
/// connection is up, lost, or closed for good. libzmq ends a connection for
/// good on a protocol error (a message over ZMQ_MAXMSGSIZE, say): no
/// reconnect follows its DISCONNECTED event, and a plain connect() again
/// does nothing. A lost connection that libzmq does not retry within
/// `grace` is disconnected and connected anew.
struct link {
  std::string peer;      // node name, or the endpoint for a SUB
  std::string endpoint;  // where it connects
  zmq::socket_t sock;
  zmq::socket_t monitor;
  bool up = false;
  std::optional<std::chrono::steady_clock::time_point> lost;  // DISCONNECTED, no retry seen yet
};

constexpr auto reconnect_grace = std::chrono::milliseconds(300);

struct endpoint::impl {
  endpoint_options opts;
  endpoint_handlers handlers;
  endpoint_stats stats;
  zmq::context_t ctx{1};
  int wake_fd = -1;
  std::mutex mtx;
  std::vector<outbound> queue;
  std::vector<std::function<void()>> tasks;
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::atomic<std::thread::id> io_thread{};
  log_limit malformed_log;  // I/O thread only
  endpoint* owner = nullptr;

  // Timers, I/O thread only: a min-heap by time, then by order of arming.
  struct timer {
    std::chrono::steady_clock::time_point when;
    std::uint64_t order;
    std::function<void()> task;
    bool operator>(const timer& o) const { return when != o.when ? when > o.when : order > o.order; }
  };
  std::vector<timer> timers;
  std::uint64_t timers_armed = 0;

  // Closed only here: other threads may post (and write the eventfd)
  // until the owner destroys the endpoint, after its thread stopped.
  ~impl() {
    if (wake_fd >= 0)
      ::close(wake_fd);
  }

  void log(int level, const std::string& line) {
    if (handlers.log)
      handlers.log(level, line);
  }

  bool on_io_thread() const { return std::this_thread::get_id() == io_thread.load(std::memory_order_relaxed); }

  /// Runs `push` (which adds to `queue` or `tasks`) under the lock, and
  /// wakes the thread when it may be asleep: the queues were empty, and
  /// this is not the thread itself (which sends and runs what is queued
  /// before it sleeps).
  template <class Push>
  void enqueue(Push push) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mtx);
      was_empty = queue.empty() && tasks.empty();
      push();
    }
    if (was_empty && !on_io_thread())
      wake();
  }

  void post(outbound m) {
    enqueue([&] { queue.push_back(std::move(m)); });
  }

  void post(std::function<void()> task) {
    enqueue([&] { tasks.push_back(std::move(task)); });
  }

  void arm(std::chrono::steady_clock::time_point when, std::function<void()> task) {
    timers.push_back({when, timers_armed++, std::move(task)});
    std::push_heap(timers.begin(), timers.end(), std::greater<>());
  }

  /// Runs the timers due by `now`, in order; one armed meanwhile for now
  /// runs in the next pass.
  void run_timers(std::chrono::steady_clock::time_point now) {
    const auto last = timers_armed;
    while (!timers.empty() && timers.front().when <= now && timers.front().order < last) {
      std::pop_heap(timers.begin(), timers.end(), std::greater<>());
      auto task = std::move(timers.back().task);
      timers.pop_back();
      task();
    }
  }

  /// How long the thread may sleep: until the next timer or sweep.
  std::chrono::milliseconds sleep_for(std::chrono::steady_clock::time_point now,
                                      std::chrono::steady_clock::time_point next_sweep) const {
    auto until = next_sweep;
    if (!timers.empty() && timers.front().when < until)
      until = timers.front().when;
    if (until <= now)
      return std::chrono::milliseconds(0);
    return std::chrono::ceil<std::chrono::milliseconds>(until - now);
  }

  void post(std::vector<std::pair<std::string, std::string>> frames) {
    if (frames.empty())
      return;
    enqueue([&] {
      for (auto& [topic, bytes] : frames)
        queue.push_back({route::publish, std::move(topic), std::move(bytes)});
    });
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  static void common_options(zmq::socket_t& s, const endpoint_options& o) {
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::heartbeat_ivl, o.heartbeat_ms);
    s.set(zmq::sockopt::heartbeat_timeout, o.heartbeat_timeout_ms);
    s.set(zmq::sockopt::heartbeat_ttl, o.heartbeat_timeout_ms);
  }

  /// A listening socket that is a CURVE server when the cluster has keys:
  /// ZAP on `domain` says who gets in.
  void serve_curve(zmq::socket_t& s, const char* domain) {
    if (!opts.security)
      return;
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, opts.security->own.secret_key);
    s.set(zmq::sockopt::zap_domain, domain);
  }

  /// A connecting socket of `type` to `ep` of peer `p`, with its monitor:
  /// with keys, a CURVE client that knows the peer by its public key.
  link make_link(zmq::socket_type type, const peer_node& p, const std::string& ep, std::size_t n,
                 const std::function<void(zmq::socket_t&)>& setup) {
    link l{p.node, ep, zmq::socket_t(ctx, type), zmq::socket_t(ctx, zmq::socket_type::pair), false, {}};
    common_options(l.sock, opts);
    if (opts.security) {
      l.sock.set(zmq::sockopt::curve_serverkey, p.public_key);
      l.sock.set(zmq::sockopt::curve_publickey, opts.security->own.public_key);
      l.sock.set(zmq::sockopt::curve_secretkey, opts.security->own.secret_key);
    }
    l.sock.set(zmq::sockopt::reconnect_ivl, 100);
    l.sock.set(zmq::sockopt::reconnect_ivl_max, 2000);
    setup(l.sock);
    const auto mon_addr = "inproc://monitor-" + std::to_string(n);
    if (zmq_socket_monitor(l.sock.handle(), mon_addr.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED
                               | ZMQ_EVENT_CONNECT_DELAYED | ZMQ_EVENT_CONNECTED)
        != 0)
      throw zmq::error_t();
    l.monitor.connect(mon_addr);
    l.sock.connect(ep);
    return l;
  }

  void run(std::promise<result<void>> ready) {
    // The ZAP handler is bound before any socket that asks it; with keys,
    // a monitor on each listening socket tells every handshake that failed
    // (no CURVE, a wrong key, or one ZAP refused).
    zmq::socket_t zap(ctx, zmq::socket_type::rep);
    zmq::socket_t pub_monitor(ctx, zmq::socket_type::pair), router_monitor(ctx, zmq::socket_type::pair);
    zmq::socket_t pub(ctx, zmq::socket_type::pub);
    zmq::socket_t router(ctx, zmq::socket_type::router);
    // One SUB per peer, so that a frame is known by the connection it came
    // on, and one DEALER per peer's control socket.
    std::vector<link> subs, dealers;
    try {
      zap.set(zmq::sockopt::linger, 0);
      if (opts.security)
        zap.bind("inproc://zeromq.zap.01");
      common_options(pub, opts);
      serve_curve(pub, pub_domain);
      pub.set(zmq::sockopt::sndhwm, opts.send_hwm);
      common_options(router, opts);
      router.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(max_request_bytes + 4096));
      // Peers and clients connect with the routing ids libzmq makes up, and
      // a connection keeps its own for its life: nobody can take over
      // another's (ROUTER_HANDOVER stays off), and who sent a request is
      // the connection's ZAP user id, never its routing id.
      serve_curve(router, control_domain);
      if (opts.security) {
        watch_handshakes(pub, pub_monitor, "inproc://handshakes-pub");
        watch_handshakes(router, router_monitor, "inproc://handshakes-control");
      }
      pub.bind(opts.pub_bind);
      router.bind(opts.control_bind);
      std::size_t n = 0;
      for (const auto& p : opts.peers)
        if (!p.pub.empty())
          subs.push_back(make_link(zmq::socket_type::sub, p, p.pub, n++, [&](zmq::socket_t& sub) {
          sub.set(zmq::sockopt::rcvhwm, opts.send_hwm);
          sub.set(zmq::sockopt::maxmsgsize, max_frame_bytes);
          for (const auto& t : opts.topics)
            sub.set(zmq::sockopt::subscribe, t);
          sub.set(zmq::sockopt::subscribe, heartbeat_topic);
        }));
      for (const auto& p : opts.peers)
        if (!p.control.empty())
          dealers.push_back(make_link(zmq::socket_type::dealer, p, p.control, n++, [&](zmq::socket_t& d) {
            d.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(max_peer_message));
          }));
    } catch (const zmq::error_t& e) {
      ready.set_value(error{errc::io, std::string("cannot set up sockets (pub ") + opts.pub_bind
                                          + ", control " + opts.control_bind + "): " + e.what()});
      return;
    }
    ready.set_value({});
    if (handlers.on_start)
      handlers.on_start(*owner);

    // Poll items: the router, the wake-up, then per link its socket and
    // its monitor. zmq_poll asks every ZeroMQ socket in its set for its
    // events, twice per call, each ask a system call or two: with a SUB, a
    // DEALER and a monitor per peer that was most of the wire thread's CPU
    // at a thousand wake-ups a second. So every socket is polled by its
    // ZMQ_FD, which turns readable when the socket has news, and read until
    // ZeroMQ says nothing is left. A socket may take its own news while it
    // sends or reconnects, and a batch may be cut short, so a socket that
    // was written to, reconnected or left with messages is marked unread
    // and read again before the thread sleeps; every `sweep_every` every
    // socket is read anyway.
    std::vector<zmq::pollitem_t> items = {
        {nullptr, router.get(zmq::sockopt::fd), ZMQ_POLLIN, 0},
        {nullptr, wake_fd, ZMQ_POLLIN, 0},
    };
    // The ZAP socket last, by its fd like the others, and read until it is
    // empty: a connecting peer waits on its answer.
    const bool serve_zap = opts.security.has_value();
    std::vector<link*> links;
    const auto is_sub = [&](const link* l) { return l < subs.data() + subs.size() && l >= subs.data(); };
    for (auto* group : {&subs, &dealers})
      for (auto& l : *group) {
        links.push_back(&l);
        items.push_back({nullptr, l.sock.get(zmq::sockopt::fd), ZMQ_POLLIN, 0});
        items.push_back({nullptr, l.monitor.get(zmq::sockopt::fd), ZMQ_POLLIN, 0});
      }
    if (serve_zap) {
      items.push_back({nullptr, pub_monitor.get(zmq::sockopt::fd), ZMQ_POLLIN, 0});
      items.push_back({nullptr, router_monitor.get(zmq::sockopt::fd), ZMQ_POLLIN, 0});
      items.push_back({nullptr, zap.get(zmq::sockopt::fd), ZMQ_POLLIN, 0});
    }
    bool router_unread = true;                  // each socket, to begin with
    std::vector<char> unread(links.size(), 1);  // per link, its socket
    const auto has_input = [](zmq::socket_t& sock) { return (sock.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0; };
    auto next_sweep = std::chrono::steady_clock::now();
    std::vector<outbound> batch;
    std::vector<std::function<void()>> posted;
    bool more = false;  // on_idle left work for another pass
    bool failed = false;
    while (!stopping.load(std::memory_order_acquire)) {
      try {
        const bool any_unread = router_unread || std::find(unread.begin(), unread.end(), 1) != unread.end();
        const auto before = std::chrono::steady_clock::now();
        zmq::poll(items.data(), items.size(),
                  any_unread || more ? std::chrono::milliseconds(0) : sleep_for(before, next_sweep));
        const auto now = std::chrono::steady_clock::now();
        const bool sweep = now >= next_sweep;
        if (sweep)
          next_sweep = now + sweep_every;
        for (std::size_t i = 0; i < links.size(); ++i) {
          auto& l = *links[i];
          if (items[3 + 2 * i].revents & ZMQ_POLLIN || sweep)
            drain_monitor(l);
          if (items[2 + 2 * i].revents & ZMQ_POLLIN || unread[i] || sweep) {
            if (is_sub(&l))
              drain_sub(l);
            else
              drain_dealer(l);
            unread[i] = has_input(l.sock);
          }
          if (revive(l))
            unread[i] = 1;
        }
        stats.peers_connected.store(
            static_cast<std::uint64_t>(std::count_if(subs.begin(), subs.end(), [](const link& l) { return l.up; })),
            std::memory_order_relaxed);
        if (items[0].revents & ZMQ_POLLIN || router_unread || sweep) {
          drain_router(router);
          router_unread = has_input(router);
        }
        if (serve_zap && (items.back().revents & ZMQ_POLLIN || sweep))
          answer_zap(zap);
        if (serve_zap) {
          const auto n = items.size();
          if (items[n - 3].revents & ZMQ_POLLIN || sweep)
            count_failed_handshakes(pub_monitor);
          if (items[n - 2].revents & ZMQ_POLLIN || sweep)
            count_failed_handshakes(router_monitor);
        }
        if (items[1].revents & ZMQ_POLLIN) {
          std::uint64_t n;
          [[maybe_unused]] auto r = ::read(wake_fd, &n, sizeof n);
        }
        {
          std::lock_guard<std::mutex> lock(mtx);
          posted.swap(tasks);
        }
        for (auto& task : posted)
          task();
        posted.clear();
        run_timers(now);
        more = handlers.on_idle && handlers.on_idle();
        {
          std::lock_guard<std::mutex> lock(mtx);
          batch.swap(queue);
          more = more || !tasks.empty();
        }
        for (auto& m : batch) {
          if (m.kind == route::peer) {
            for (std::size_t i = subs.size(); i < links.size(); ++i)
              if (auto& d = *links[i]; d.peer == m.first) {
                d.sock.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
                d.sock.send(zmq::buffer(m.body), zmq::send_flags::dontwait);
                unread[i] = 1;  // the send may have taken the socket's news
              }
            continue;
          }
          send(m.kind == route::reply ? router : pub, m);
          if (m.kind == route::reply)
            router_unread = true;
        }
        batch.clear();
      } catch (const zmq::error_t& e) {
        // What this pass had taken is dropped, never run or sent twice.
        posted.clear();
        batch.clear();
        if (e.num() == ETERM)
          break;
        log(2, std::string("wire I/O: ") + e.what());
        more = true;
      } catch (const std::exception& e) {
        // A handler, task or timer failed half way: what it had changed
        // cannot be trusted, so the node stops (and is restarted).
        if (!handlers.on_fatal)
          throw;
        handlers.on_fatal(std::string("the wire thread failed: ") + e.what());
        failed = true;
        break;
      }
    }
    if (handlers.on_stop && !failed)
      handlers.on_stop();
    for (auto* l : links)
      zmq_socket_monitor(l->sock.handle(), nullptr, 0);
    if (opts.security) {
      zmq_socket_monitor(pub.handle(), nullptr, 0);
      zmq_socket_monitor(router.handle(), nullptr, 0);
    }
  }

  void send(zmq::socket_t& s, outbound& m) {
    const bool reply = m.kind == route::reply;
    if (reply) {
      s.send(zmq::buffer(m.first), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      s.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    } else {
      s.send(zmq::buffer(m.first), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    }
    s.send(zmq::buffer(m.body), zmq::send_flags::dontwait);
    if (!reply)
      stats.published.fetch_add(1, std::memory_order_relaxed);
  }

  /// Counts and drops a malformed frame from `peer`; logs it, at most one
  /// line per peer every few seconds.
  void malformed(const std::string& peer, const std::string& why) {
    stats.malformed.fetch_add(1, std::memory_order_relaxed);
    if (auto held = malformed_log.admit(peer))
      log(1, "dropping a malformed frame from " + peer + ": " + why
                 + (*held ? " (" + std::to_string(*held) + " more from it since the last line)" : std::string()));
  }

  void drain_sub(link& l) {
    std::vector<envelope> events;
    for (int i = 0; i < drain_batch; ++i) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(l.sock, std::back_inserter(parts), zmq::recv_flags::dontwait))
        break;
      if (parts.size() != 2) {
        malformed(l.peer + " at " + l.endpoint, std::to_string(parts.size()) + " frames, expected [topic][envelope]");
        continue;
      }
      if (parts[0].to_string_view() == heartbeat_topic) {
        // Events before a heartbeat are handed over before it: a heartbeat
        // must never seem ahead of events that arrived earlier.
        if (!events.empty() && handlers.on_events)
          handlers.on_events(l.peer, std::exchange(events, {}));
        if (handlers.on_heartbeat)
          handlers.on_heartbeat(l.peer, parts[1].to_string());
        continue;
      }
      auto ev = decode(parts[1].to_string_view());
      if (!ev) {
        malformed(l.peer + " at " + l.endpoint, ev.err().to_string());
        continue;
      }
      if (parts[0].to_string_view() != topic_of(ev->detail_type)) {
        malformed(l.peer + " at " + l.endpoint, "topic frame does not match the detail-type");
        continue;
      }
      stats.received.fetch_add(1, std::memory_order_relaxed);
      events.push_back(std::move(*ev));
    }
    if (!events.empty() && handlers.on_events)
      handlers.on_events(l.peer, std::move(events));
  }

  void drain_router(zmq::socket_t& router) {
    for (int i = 0; i < drain_batch; ++i) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(router, std::back_inserter(parts), zmq::recv_flags::dontwait))
        return;
      stats.requests.fetch_add(1, std::memory_order_relaxed);
      if (parts.size() != 3 || parts[1].size() != 0) {
        stats.bad_requests.fetch_add(1, std::memory_order_relaxed);
        continue;  // not [identity][][body]: there is no way to answer it
      }
      // The name ZAP gave the connection's key; libzmq sets it on every
      // message of a CURVE connection, and on none of an open one.
      const char* user = zmq_msg_gets(parts[2].handle(), "User-Id");
      if (handlers.on_request)
        handlers.on_request(parts[0].to_string(), user ? user : "", parts[2].to_string());
    }
  }

  void watch_handshakes(zmq::socket_t& s, zmq::socket_t& monitor, const char* addr) {
    if (zmq_socket_monitor(s.handle(), addr,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        != 0)
      throw zmq::error_t();
    monitor.connect(addr);
  }

  /// Counts the connections whose handshake failed on a listening socket:
  /// a peer without CURVE, with a key that is not the one it claims, or
  /// one ZAP refused. Logged rate-limited (ZAP refusals are logged where
  /// they are decided, with the peer's address).
  void count_failed_handshakes(zmq::socket_t& monitor) {
    for (;;) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(monitor, std::back_inserter(parts), zmq::recv_flags::dontwait))
        return;
      if (parts.size() != 2 || parts[0].size() < 6)
        continue;
      std::uint16_t event;
      std::memcpy(&event, parts[0].data(), sizeof event);
      stats.refused.fetch_add(1, std::memory_order_relaxed);
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        continue;
      if (auto held = malformed_log.admit("handshake " + parts[1].to_string()))
        log(1, "a connection to " + parts[1].to_string() + " failed its handshake ("
                   + (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "not CURVE, or a key it does not hold"
                                                                    : "no detail")
                   + ")" + (*held ? " (" + std::to_string(*held) + " more since the last line)" : std::string()));
    }
  }

  /// Answers the ZAP requests waiting: the policy admits a key or not, and
  /// names it. A refusal is logged, rate-limited, and counted by the
  /// handshake monitor.
  void answer_zap(zmq::socket_t& zap) {
    for (;;) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(zap, std::back_inserter(parts), zmq::recv_flags::dontwait))
        return;
      std::vector<std::string> frames;
      for (auto& p : parts)
        frames.push_back(p.to_string());
      zap_reply reply;
      if (auto req = parse_zap_request(frames)) {
        reply = opts.security->admitted.decide(*req);
        if (reply.status_code != "200") {
          if (auto held = malformed_log.admit("zap " + req->address))
            log(1, "refused a connection from " + req->address + " on " + req->domain + ": " + reply.status_text
                       + (*held ? " (" + std::to_string(*held) + " more since the last line)" : std::string()));
        }
      } else {
        reply.request_id = frames.size() > 1 ? frames[1] : std::string();
        reply.status_code = "500";
        reply.status_text = "not a ZAP request";
      }
      const auto out = zap_reply_frames(reply);
      for (std::size_t i = 0; i < out.size(); ++i)
        zap.send(zmq::buffer(out[i]), i + 1 < out.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }

  void drain_dealer(link& d) {
    for (int i = 0; i < drain_batch; ++i) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(d.sock, std::back_inserter(parts), zmq::recv_flags::dontwait))
        return;
      if (parts.size() != 2 || parts[0].size() != 0) {
        malformed(d.peer + " (control)", "a peer's answer is not [][body]");
        continue;
      }
      if (handlers.on_peer)
        handlers.on_peer(d.peer, parts[1].to_string());
    }
  }

  void drain_monitor(link& l) {
    for (;;) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(l.monitor, std::back_inserter(parts), zmq::recv_flags::dontwait))
        return;
      if (parts.size() != 2 || parts[0].size() < 6)
        continue;
      std::uint16_t event;
      std::memcpy(&event, parts[0].data(), sizeof event);
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        l.lost.reset();
        if (!l.up)
          log(0, "connected to " + l.endpoint);
        l.up = true;
      } else if (event == ZMQ_EVENT_DISCONNECTED) {
        if (l.up)
          log(1, "lost connection to " + l.endpoint);
        l.up = false;
        l.lost = std::chrono::steady_clock::now();
      } else {
        l.lost.reset();  // libzmq is connecting again by itself
      }
    }
  }

  /// Connects `l` anew when libzmq closed its connection for good; true
  /// when it did.
  bool revive(link& l) {
    if (!l.lost || std::chrono::steady_clock::now() - *l.lost < reconnect_grace)
      return false;
    l.lost.reset();
    stats.reconnects.fetch_add(1, std::memory_order_relaxed);
    log(1, "the connection to " + l.endpoint + " was closed for good (a protocol error, such as a message over "
               "the size limit); connecting again");
    try {
      l.sock.disconnect(l.endpoint);
    } catch (const zmq::error_t&) {
      // Already gone: connect below is what matters.
    }
    l.sock.connect(l.endpoint);
    return true;
  }
};

endpoint::endpoint(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

endpoint::~endpoint() { stop(); }

result<std::unique_ptr<endpoint>> endpoint::start(endpoint_options opts, endpoint_handlers handlers) {
  auto p = std::make_unique<impl>();
  p->opts = std::move(opts);
  p->handlers = std::move(handlers);
  p->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p->wake_fd < 0)
    return error{errc::io, "eventfd failed"};
  std::promise<result<void>> ready;
  auto fut = ready.get_future();
  auto* raw = p.get();
  std::unique_ptr<endpoint> ep(new endpoint(std::move(p)));
  raw->owner = ep.get();
  raw->thread = std::thread([raw, r = std::move(ready)]() mutable {
    pthread_setname_np(pthread_self(), "troupe.wire");
    raw->io_thread.store(std::this_thread::get_id());
    raw->run(std::move(r));
  });
  if (auto res = fut.get(); !res) {
    ep->stop();
    return res.err();
  }
  return ep;
}

void endpoint::post(std::function<void()> task) { impl_->post(std::move(task)); }

void endpoint::at(std::chrono::steady_clock::time_point when, std::function<void()> task) {
  impl_->arm(when, std::move(task));
}

void endpoint::publish(std::string topic, std::string bytes) {
  impl_->post({route::publish, std::move(topic), std::move(bytes)});
}

void endpoint::publish(std::vector<std::pair<std::string, std::string>> frames) { impl_->post(std::move(frames)); }

void endpoint::reply(std::string identity, std::string bytes) {
  impl_->post({route::reply, std::move(identity), std::move(bytes)});
}

void endpoint::send_peer(const std::string& node, std::string bytes) {
  impl_->post({route::peer, node, std::move(bytes)});
}

void endpoint::stop() {
  if (!impl_ || !impl_->thread.joinable())
    return;
  impl_->stopping.store(true, std::memory_order_release);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake_fd, &one, sizeof one);
  impl_->thread.join();
}

const endpoint_stats& endpoint::stats() const { return impl_->stats; }

} // namespace troupe::wire
