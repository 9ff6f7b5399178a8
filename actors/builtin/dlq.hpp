// `dlq`: the dead-letter queue. It runs on a node of its own and receives,
// over the same reliable wire as every event, a DeadLetter for each
// delivery that failed for good on a rule target whose `dead-letter-queue`
// names it. It keeps each one durably with EventBridge's attributes until
// an operator redrives or purges it (`troupe dlq`).
//
// Commands arrive as events too (from `troupe dlq`, through PutEvents on
// this node), so that a redrive is effectively once: the record leaves the
// queue in the same transaction that emits the DeadLetterRedriven event,
// which the target's node turns back into a delivery with a fresh retry
// budget. A redriven delivery that fails again comes back as a new record.
#pragma once

#include <map>
#include <string>

#include "actors/service.hpp"

namespace troupe::builtin {

class dlq : public service {
 public:
  static constexpr std::int64_t max_page = 1000;

  handled handle(const event_in& ev) override;
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
  /// "list" {rule?, target?, error_code?, after?, limit?} → the records,
  /// oldest first, from just after the id `after`, at most `limit` (and at
  /// most max_page); "show" {id} → one record, or null; "count" →
  /// {"letters": n}; "correlated" {ids} → for each saga (correlation id)
  /// among `ids` that has a letter, its first: {correlation_id, id,
  /// RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE}.
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  handled take(const event_in& ev);
  handled redrive(const event_in& ev, bool purge);

  std::map<std::string, nlohmann::json> letters_;  // by id: time-ordered (UUIDv7)
};

/// Registers "dlq".
void register_dlq(service_registry& registry);

} // namespace troupe::builtin
