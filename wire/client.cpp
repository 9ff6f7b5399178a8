#include "wire/client.hpp"

#include <cstring>
#include <optional>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace troupe::wire {

struct client::impl {
  zmq::context_t ctx{1};
  std::optional<zmq::socket_t> sock;
  std::optional<curve_client> curve;
  std::optional<zmq::socket_t> monitor;  // with CURVE: tells a refused key
  int opened = 0;

  /// Whether the node turned this client's key away (ZAP said no).
  bool key_refused() {
    if (!monitor)
      return false;
    zmq::message_t m;
    while (monitor->recv(m, zmq::recv_flags::dontwait))
      if (m.more() && m.size() >= 6) {  // [event, value][address]
        std::uint16_t event;
        std::memcpy(&event, m.data(), sizeof event);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
          return true;
      }
    return false;
  }

  void open(const std::string& ep) {
    if (sock && monitor)
      zmq_socket_monitor(sock->handle(), nullptr, 0);
    monitor.reset();
    sock.emplace(ctx, zmq::socket_type::dealer);
    sock->set(zmq::sockopt::linger, 0);
    if (curve) {
      sock->set(zmq::sockopt::curve_serverkey, curve->server_key);
      sock->set(zmq::sockopt::curve_publickey, curve->own.public_key);
      sock->set(zmq::sockopt::curve_secretkey, curve->own.secret_key);
      const auto addr = "inproc://client-monitor-" + std::to_string(opened++);
      if (zmq_socket_monitor(sock->handle(), addr.c_str(), ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        monitor.emplace(ctx, zmq::socket_type::pair);
        monitor->connect(addr);
      }
    }
    sock->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_reply_body + 64 * 1024));
    sock->connect(ep);
  }
};

client::client(std::string endpoint, std::optional<curve_client> curve)
    : endpoint_(std::move(endpoint)), impl_(std::make_unique<impl>()) {
  impl_->curve = std::move(curve);
  impl_->open(endpoint_);
}

client::~client() = default;

result<control_reply> client::call(const control_request& req, std::chrono::milliseconds timeout) {
  try {
    const auto body = encode(req);
    // A node's ROUTER would cut the connection, and no reply would come.
    if (body.size() > max_request_bytes)
      return error{errc::too_large, "a request of " + std::to_string(body.size()) + " bytes; at most "
                                        + std::to_string(max_request_bytes)};
    impl_->sock->send(zmq::message_t(), zmq::send_flags::sndmore);
    impl_->sock->send(zmq::buffer(body), zmq::send_flags::none);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        break;
      zmq::pollitem_t item{impl_->sock->handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN))
        continue;
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(*impl_->sock, std::back_inserter(parts), zmq::recv_flags::dontwait))
        continue;
      if (parts.size() != 2 || parts[0].size() != 0)
        return error{errc::wrong_shape, "reply from " + endpoint_ + " is not [][body]"};
      return decode_reply(parts[1].to_string_view(), req.verb);
    }
    const bool refused = impl_->key_refused();
    impl_->open(endpoint_);
    if (refused)
      return error{errc::unauthorized, "the node at " + endpoint_ + " refused this client's key: it is not one the cluster's "
                                                          "config lists"};
    return error{errc::io, "no reply from " + endpoint_ + " within " + std::to_string(timeout.count()) + " ms"};
  } catch (const zmq::error_t& e) {
    impl_->open(endpoint_);
    return error{errc::io, "control request to " + endpoint_ + ": " + e.what()};
  }
}

} // namespace troupe::wire
