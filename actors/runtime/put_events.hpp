// PutEvents on a node: each entry checked against every limit an event
// must meet, and idempotency keys: the same key with the same content
// answers the same event id and makes nothing; with other content it is an
// error. A key is kept in memory until its row is surely in the store,
// which keeps it for the longest maximum event age.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/node_store.hpp"
#include "wire/control.hpp"
#include "wire/limits.hpp"

namespace troupe::runtime {

/// A digest of everything an entry says (FNV-1a, each field prefixed by its
/// length), to tell a repeated key with the same content from one with other.
std::uint64_t digest_of(const wire::put_entry& e);

/// Why `e` cannot become an event: a limit, a source reserved for the
/// runtime, or a time outside wire::put_time_* of `now_ms`.
wire::entry_problem check_put_entry(const wire::put_entry& e, std::int64_t now_ms);

/// A PutEvents call: its entries, and each one's answer once settled.
struct put_call {
  std::string identity;
  std::vector<wire::put_entry> entries;
  std::vector<wire::put_result> results;
  std::vector<bool> settled;
  std::vector<std::uint64_t> digests;
  std::vector<std::optional<store::idempotency_record>> found;  // per entry, from the store

  explicit put_call(std::string who, std::vector<wire::put_entry> es);
  /// Settles entry `i`, whose key answered `event_id` for content `digest`
  /// before: that id again, or IdempotencyKeyMismatch. True when the same.
  bool settle_repeat(std::size_t i, const std::string& event_id, std::uint64_t digest);
};

/// The keys this node answered in this incarnation, until durable.
class idempotency_keys {
 public:
  struct entry {
    std::string event_id;
    std::uint64_t digest = 0;
    std::int64_t since_ms = 0;
    bool durable = false;
  };

  const entry* find(const std::string& key) const;
  void remember(const std::string& key, std::string event_id, std::uint64_t digest, std::int64_t now_ms);
  void durable(const std::string& key);
  /// Forgets durable keys older than `keep_ms`, so that a lookup racing
  /// the commit still finds them.
  void forget_old(std::int64_t now_ms, std::int64_t keep_ms = 60000);
  std::size_t size() const { return keys_.size(); }

 private:
  std::unordered_map<std::string, entry> keys_;
};

}  // namespace troupe::runtime
