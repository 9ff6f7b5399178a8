// A blocking client for a node's control socket, for the CLI and tests.
//
// One DEALER socket per client, one request in flight at a time. A request
// that times out throws nothing: it returns an `io` error, and the socket
// is replaced so that a late reply can never be taken for the next one.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "wire/control.hpp"
#include "wire/error.hpp"
#include "wire/security.hpp"

namespace troupe::wire {

class client {
 public:
  /// A client of the node at `endpoint`; with `curve`, it authenticates
  /// the node by its public key and proves its own.
  explicit client(std::string endpoint, std::optional<curve_client> curve = std::nullopt);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Sends `req` and waits at most `timeout` for its reply.
  result<control_reply> call(const control_request& req, std::chrono::milliseconds timeout);

  const std::string& endpoint() const { return endpoint_; }

 private:
  struct impl;
  std::string endpoint_;
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::wire
