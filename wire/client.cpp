#include "wire/client.hpp"

#include <optional>
#include <zmq.hpp>
#include <zmq_addon.hpp>

namespace troupe::wire {

struct client::impl {
  zmq::context_t ctx{1};
  std::optional<zmq::socket_t> sock;

  void open(const std::string& ep) {
    sock.emplace(ctx, zmq::socket_type::dealer);
    sock->set(zmq::sockopt::linger, 0);
    sock->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_reply_body + 64 * 1024));
    sock->connect(ep);
  }
};

client::client(std::string endpoint) : endpoint_(std::move(endpoint)), impl_(std::make_unique<impl>()) {
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
    impl_->open(endpoint_);
    return error{errc::io, "no reply from " + endpoint_ + " within " + std::to_string(timeout.count()) + " ms"};
  } catch (const zmq::error_t& e) {
    impl_->open(endpoint_);
    return error{errc::io, "control request to " + endpoint_ + ": " + e.what()};
  }
}

} // namespace troupe::wire
