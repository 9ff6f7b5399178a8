#include "wire/endpoint.hpp"

#include "wire/stream.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <future>
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

constexpr int max_frame_bytes = static_cast<int>(max_envelope_bytes) + 1024;
constexpr int drain_batch = 512;  // messages per socket per wake-up, for fairness

} // namespace

struct endpoint::impl {
  endpoint_options opts;
  endpoint_handlers handlers;
  endpoint_stats stats;
  zmq::context_t ctx{1};
  int wake_fd = -1;
  std::mutex mtx;
  std::vector<outbound> queue;
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::set<std::string> malformed_peers;  // I/O thread only
  std::set<std::string> connected;        // I/O thread only

  void log(int level, const std::string& line) {
    if (handlers.log)
      handlers.log(level, line);
  }

  void post(outbound m) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mtx);
      was_empty = queue.empty();
      queue.push_back(std::move(m));
    }
    if (was_empty)
      wake();
  }

  void post(std::vector<std::pair<std::string, std::string>> frames) {
    if (frames.empty())
      return;
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mtx);
      was_empty = queue.empty();
      for (auto& [topic, bytes] : frames)
        queue.push_back({route::publish, std::move(topic), std::move(bytes)});
    }
    if (was_empty)
      wake();
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

  void run(std::promise<result<void>> ready) {
    zmq::socket_t pub(ctx, zmq::socket_type::pub);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    zmq::socket_t router(ctx, zmq::socket_type::router);
    zmq::socket_t monitor(ctx, zmq::socket_type::pair);
    std::vector<std::pair<std::string, zmq::socket_t>> dealers;
    try {
      common_options(pub, opts);
      pub.set(zmq::sockopt::sndhwm, opts.send_hwm);
      common_options(sub, opts);
      sub.set(zmq::sockopt::rcvhwm, opts.send_hwm);
      sub.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_frame_bytes));
      sub.set(zmq::sockopt::reconnect_ivl, 100);
      sub.set(zmq::sockopt::reconnect_ivl_max, 2000);
      common_options(router, opts);
      router.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(4 * 1024 * 1024));
      // A restarted peer reconnects with the same routing id: let it take
      // over instead of being refused while the old connection lingers.
      router.set(zmq::sockopt::router_handover, 1);
      pub.bind(opts.pub_bind);
      router.bind(opts.control_bind);
      const std::string mon_addr = "inproc://monitor";
      if (zmq_socket_monitor(sub.handle(), mon_addr.c_str(),
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
          != 0)
        throw zmq::error_t();
      monitor.connect(mon_addr);
      for (const auto& t : opts.topics)
        sub.set(zmq::sockopt::subscribe, t);
      sub.set(zmq::sockopt::subscribe, heartbeat_topic);
      for (const auto& p : opts.peers)
        sub.connect(p);
      for (const auto& [node, ep] : opts.peer_controls) {
        zmq::socket_t d(ctx, zmq::socket_type::dealer);
        common_options(d, opts);
        d.set(zmq::sockopt::routing_id, opts.node);
        d.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(64 * 1024 * 1024));
        d.set(zmq::sockopt::reconnect_ivl, 100);
        d.set(zmq::sockopt::reconnect_ivl_max, 2000);
        d.connect(ep);
        dealers.emplace_back(node, std::move(d));
      }
    } catch (const zmq::error_t& e) {
      ready.set_value(error{errc::io, std::string("cannot set up sockets (pub ") + opts.pub_bind
                                          + ", control " + opts.control_bind + "): " + e.what()});
      return;
    }
    ready.set_value({});

    std::vector<zmq::pollitem_t> items = {
        {sub.handle(), 0, ZMQ_POLLIN, 0},
        {router.handle(), 0, ZMQ_POLLIN, 0},
        {monitor.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, wake_fd, ZMQ_POLLIN, 0},
    };
    for (auto& d : dealers)
      items.push_back({d.second.handle(), 0, ZMQ_POLLIN, 0});
    std::vector<outbound> batch;
    while (!stopping.load(std::memory_order_acquire)) {
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(200));
        for (std::size_t i = 0; i < dealers.size(); ++i)
          if (items[4 + i].revents & ZMQ_POLLIN)
            drain_dealer(dealers[i].first, dealers[i].second);
        if (items[0].revents & ZMQ_POLLIN)
          drain_sub(sub);
        if (items[1].revents & ZMQ_POLLIN)
          drain_router(router);
        if (items[2].revents & ZMQ_POLLIN)
          drain_monitor(monitor);
        if (items[3].revents & ZMQ_POLLIN) {
          std::uint64_t n;
          [[maybe_unused]] auto r = ::read(wake_fd, &n, sizeof n);
        }
        {
          std::lock_guard<std::mutex> lock(mtx);
          batch.swap(queue);
        }
        for (auto& m : batch) {
          if (m.kind == route::peer) {
            for (auto& d : dealers)
              if (d.first == m.first) {
                d.second.send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
                d.second.send(zmq::buffer(m.body), zmq::send_flags::dontwait);
              }
            continue;
          }
          send(m.kind == route::reply ? router : pub, m);
        }
        batch.clear();
      } catch (const zmq::error_t& e) {
        if (e.num() == ETERM)
          break;
        log(2, std::string("wire I/O: ") + e.what());
      }
    }
    zmq_socket_monitor(sub.handle(), nullptr, 0);
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

  void malformed(zmq::message_t& msg, const std::string& why) {
    stats.malformed.fetch_add(1, std::memory_order_relaxed);
    std::string peer = "unknown peer";
    try {
      peer = msg.gets("Peer-Address");
    } catch (const zmq::error_t&) {
    }
    if (malformed_peers.insert(peer).second)
      log(1, "dropping malformed event from " + peer + ": " + why
                 + " (further ones from this peer are only counted)");
  }

  void drain_sub(zmq::socket_t& sub) {
    std::vector<envelope> events;
    for (int i = 0; i < drain_batch; ++i) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(sub, std::back_inserter(parts), zmq::recv_flags::dontwait))
        break;
      if (parts.size() != 2) {
        malformed(parts.front(), std::to_string(parts.size()) + " frames, expected [topic][envelope]");
        continue;
      }
      if (parts[0].to_string_view() == heartbeat_topic) {
        // Events before a heartbeat are handed over before it: a heartbeat
        // must never seem ahead of events that arrived earlier.
        if (!events.empty() && handlers.on_events)
          handlers.on_events(std::exchange(events, {}));
        if (handlers.on_heartbeat)
          handlers.on_heartbeat(parts[1].to_string());
        continue;
      }
      auto ev = decode(parts[1].to_string_view());
      if (!ev) {
        malformed(parts[1], ev.err().to_string());
        continue;
      }
      if (parts[0].to_string_view() != topic_of(ev->detail_type)) {
        malformed(parts[1], "topic frame does not match the detail-type");
        continue;
      }
      stats.received.fetch_add(1, std::memory_order_relaxed);
      events.push_back(std::move(*ev));
    }
    if (!events.empty() && handlers.on_events)
      handlers.on_events(std::move(events));
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
      if (handlers.on_request)
        handlers.on_request(parts[0].to_string(), parts[2].to_string());
    }
  }

  void drain_dealer(const std::string& node, zmq::socket_t& d) {
    for (int i = 0; i < drain_batch; ++i) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(d, std::back_inserter(parts), zmq::recv_flags::dontwait))
        return;
      if (parts.size() != 2 || parts[0].size() != 0) {
        malformed(parts.front(), "a peer's answer is not [][body]");
        continue;
      }
      if (handlers.on_peer)
        handlers.on_peer(node, parts[1].to_string());
    }
  }

  void drain_monitor(zmq::socket_t& mon) {
    for (;;) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(mon, std::back_inserter(parts), zmq::recv_flags::dontwait))
        return;
      if (parts.size() != 2 || parts[0].size() < 6)
        continue;
      std::uint16_t event;
      std::memcpy(&event, parts[0].data(), sizeof event);
      const auto addr = parts[1].to_string();
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        if (connected.insert(addr).second)
          log(0, "connected to " + addr);
      } else if (event == ZMQ_EVENT_DISCONNECTED) {
        if (connected.erase(addr))
          log(1, "lost connection to " + addr);
      }
      stats.peers_connected.store(connected.size(), std::memory_order_relaxed);
    }
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
  p->thread = std::thread([raw, r = std::move(ready)]() mutable {
    pthread_setname_np(pthread_self(), "troupe.wire");
    raw->run(std::move(r));
  });
  auto res = fut.get();
  std::unique_ptr<endpoint> ep(new endpoint(std::move(p)));
  if (!res) {
    ep->stop();
    return res.err();
  }
  return ep;
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
  ::close(impl_->wake_fd);
  impl_->wake_fd = -1;
}

const endpoint_stats& endpoint::stats() const { return impl_->stats; }

} // namespace troupe::wire
