// EventBridge's operations, answered from a troupe cluster: what the
// gateway does with a request once it is authenticated, as plain functions
// of the JSON that came in (no HTTP, no sockets), so that each is tested
// alone. PutEvents hands its entries to a `put_fn`: the gateway's is a
// control socket's PutEvents on the ingress node, and `troupe put-events`
// uses the same conversion.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/config.hpp"
#include "wire/control.hpp"
#include "wire/error.hpp"

namespace troupe::gateway {

/// An answer: HTTP status and JSON body.
struct reply {
  int status = 200;
  std::string body;
};

/// EventBridge's error shape: `{"__type": type, "message": message}`.
reply error_reply(const std::string& type, const std::string& message, int status = 400);

/// Who is calling: an access key's roles and sources, or anyone (unsigned).
struct caller {
  std::string key_id;  // empty: unsigned
  unsigned roles = 0;
  std::vector<std::string> sources;  // empty: any
};

/// The limits EventBridge sets on one PutEvents call.
inline constexpr std::size_t max_entries_per_call = 10;
inline constexpr std::size_t max_entry_size = 256 * 1024;
/// EventBridge's bound on an entry's TraceHeader (1 to 500 characters).
inline constexpr std::size_t max_trace_header = 500;

/// PutEvents' entries, made ready to put: the entries that are fine, and
/// for every entry of the request either its place among those or its
/// error already.
struct prepared_put {
  std::vector<wire::put_entry> entries;
  struct slot {
    int entry = -1;  // index into `entries`, or -1 when refused here
    std::string error_code, error_message;
  };
  std::vector<slot> slots;
};

/// Converts PutEvents' `Entries` (a JSON array) as EventBridge reads them:
/// Source, DetailType, Detail (a JSON object as a string), Resources, Time
/// (seconds since the epoch, or RFC 3339), EventBusName, TraceHeader
/// (troupe's correlation id). An entry over max_entry_size as EventBridge
/// counts it, with a Detail that is not a JSON object, that the node would
/// refuse (wire::check_entry: nesting, elements, the Detail's MessagePack
/// size) or that would take the request to the node past
/// wire::max_request_bytes fails alone, with EventBridge's ErrorCode.
/// `idempotency` non-empty gives entry i the key `idempotency + "/" + i`.
/// Fails (ValidationException) only for what fails the whole call.
result<prepared_put> prepare_put(const nlohmann::json& entries, const cluster::config& cfg, const caller& who,
                                 const std::string& idempotency);

/// EventBridge's PutEvents answer for `p`, with `results` for its entries.
nlohmann::json put_response(const prepared_put& p, const std::vector<wire::put_result>& results);

/// The rules of the cluster as ListRules gives them (internal ones with
/// ManagedBy), and one rule's targets as ListTargetsByRule.
nlohmann::json rule_json(const cluster::config& cfg, const cluster::gateway_spec& g, const cluster::rule_spec& r,
                         bool describe);
nlohmann::json target_json(const cluster::config& cfg, const cluster::gateway_spec& g, const cluster::rule_spec& r);

/// The operations. `put` sends prepared entries to the cluster; an error
/// from it answers 500 InternalException (the SDKs retry it, and with an
/// idempotency key that is safe).
class api {
 public:
  using put_fn = std::function<result<std::vector<wire::put_result>>(const std::vector<wire::put_entry>&)>;

  api(const cluster::config& cfg, put_fn put);

  /// Answers `operation` (X-Amz-Target without "AWSEvents.") with `body`.
  /// `idempotency` is the call's key, scoped to the caller (see prepare_put).
  reply handle(std::string_view operation, std::string_view body, const caller& who,
               const std::string& idempotency = "") const;

  const cluster::gateway_spec& spec() const { return gw_; }

 private:
  reply put_events(const nlohmann::json& in, const caller& who, const std::string& idempotency) const;
  reply test_event_pattern(const nlohmann::json& in) const;
  reply list_rules(const nlohmann::json& in) const;
  reply describe_rule(const nlohmann::json& in) const;
  reply list_targets_by_rule(const nlohmann::json& in) const;
  reply list_event_buses(const nlohmann::json& in) const;
  /// nullopt when `name` (absent, "default", the cluster's or its ARN)
  /// is this cluster's bus; else the error.
  std::optional<reply> other_bus(const nlohmann::json& in, const char* field) const;

  const cluster::config& cfg_;
  cluster::gateway_spec gw_;
  put_fn put_;
};

/// Whether `name` (an EventBusName: a name or an ARN) is the cluster's bus.
bool is_cluster_bus(const cluster::config& cfg, const cluster::gateway_spec& g, const std::string& name);

}  // namespace troupe::gateway
