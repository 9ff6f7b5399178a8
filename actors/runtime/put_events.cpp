#include "actors/runtime/put_events.hpp"

#include "actors/runtime/dead_letters.hpp"

namespace troupe::runtime {

std::uint64_t digest_of(const wire::put_entry& e) {
  std::uint64_t h = 14695981039346656037ULL;
  const auto mix = [&](std::string_view v) {
    const auto n = static_cast<std::uint64_t>(v.size());
    for (int i = 0; i < 8; ++i)
      h = (h ^ ((n >> (8 * i)) & 0xff)) * 1099511628211ULL;
    for (unsigned char c : v)
      h = (h ^ c) * 1099511628211ULL;
  };
  mix(e.source);
  mix(e.detail_type);
  mix(e.detail);
  mix(e.correlation_id);
  for (const auto& r : e.resources)
    mix(r);
  if (e.time_ms != 0)  // so that an entry without a time keeps the digest stored before times existed
    mix(std::to_string(e.time_ms));
  return h;
}

wire::entry_problem check_put_entry(const wire::put_entry& e, std::int64_t now_ms) {
  auto problem = wire::check_entry({e.source, e.detail_type, e.detail, e.correlation_id, &e.resources});
  if (!problem && reserved_source(e.source))
    problem = {"InvalidArgument", "source " + e.source + " is reserved for the runtime"};
  if (!problem && e.time_ms != 0
      && (e.time_ms < now_ms - wire::put_time_past_ms || e.time_ms > now_ms + wire::put_time_future_ms))
    problem = {"InvalidArgument", "time " + wire::format_time(e.time_ms)
                                      + " is not within 24 hours before and 5 minutes after now ("
                                      + wire::format_time(now_ms)
                                      + "): an event's age, which bounds its retries and how long it is kept, "
                                        "starts at its time"};
  return problem;
}

put_call::put_call(std::string who, std::vector<wire::put_entry> es)
    : identity(std::move(who)), entries(std::move(es)), results(entries.size()), settled(entries.size(), false),
      digests(entries.size(), 0) {}

bool put_call::settle_repeat(std::size_t i, const std::string& event_id, std::uint64_t digest) {
  settled[i] = true;
  if (digest != digests[i]) {
    results[i] = {"", "IdempotencyKeyMismatch",
                  "idempotency key '" + entries[i].idempotency_key + "' was used before with other content (event "
                      + event_id + ")"};
    return false;
  }
  results[i] = {event_id, "", ""};
  return true;
}

const idempotency_keys::entry* idempotency_keys::find(const std::string& key) const {
  auto it = keys_.find(key);
  return it == keys_.end() ? nullptr : &it->second;
}

void idempotency_keys::remember(const std::string& key, std::string event_id, std::uint64_t digest,
                                std::int64_t now_ms) {
  keys_[key] = {std::move(event_id), digest, now_ms, false};
}

void idempotency_keys::durable(const std::string& key) {
  if (auto it = keys_.find(key); it != keys_.end())
    it->second.durable = true;
}

void idempotency_keys::forget_old(std::int64_t now_ms, std::int64_t keep_ms) {
  for (auto it = keys_.begin(); it != keys_.end();)
    it = it->second.durable && now_ms - it->second.since_ms > keep_ms ? keys_.erase(it) : std::next(it);
}

}  // namespace troupe::runtime
