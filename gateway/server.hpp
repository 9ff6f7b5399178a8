// `troupe gateway`: EventBridge's JSON 1.1 protocol over HTTP/1.1, in a
// process of its own so that HTTP never runs on a node's event path.
//
// POST / with `X-Amz-Target: AWSEvents.<Operation>`; each request is
// checked (sigv4.hpp) and answered by gateway/api.hpp. PutEvents go to the
// config's ingress node over its control socket, as the gateway's client.
//
// Idempotency: EventBridge has no field for it, so a client may send
// `X-Troupe-Idempotency-Key: KEY` with a call, and entry i is put with key
// KEY/i. Without it, the AWS SDKs' and CLI's `amz-sdk-invocation-id`, the
// same on every retry of one call, serves as the key, so an SDK's retry of
// a call whose answer was lost puts nothing twice. Keys are scoped to the
// access key that signed the call.
#pragma once

#include <string>

#include "cluster/config.hpp"
#include "log/format.hpp"

namespace troupe::gateway {

struct server_options {
  std::string listen;  // empty: the config's
  unsigned threads = 128;  // each open connection holds one
  unsigned max_connection_age = 30;  // seconds; then its reading side is shut (connections.hpp)
  log::format log_format = log::format::text;  // its lines on stdout, as a node's (log/format.hpp)
};

/// Serves until SIGINT or SIGTERM; returns the exit code (2 for a config
/// or key that cannot serve, 1 when the port cannot be bound).
int serve(const cluster::config& cfg, const server_options& opts);

/// The longest X-Troupe-Idempotency-Key taken.
inline constexpr std::size_t max_call_key = 128;

}  // namespace troupe::gateway
