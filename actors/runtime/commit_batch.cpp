#include "actors/runtime/commit_batch.hpp"

#include <algorithm>

#include "actors/runtime/trace_journal.hpp"

namespace troupe::runtime {

result<void> write_effects(store::txn& t, const std::vector<finished_delivery>& done, std::vector<delivery>& parked,
                           const std::vector<delivery>& rescheduled,
                           const std::map<stream_key, store::cursor>& cursors) {
  for (const auto& f : done) {
    if (f.inbox_id)
      if (auto r = t.inbox_done(f.inbox_id); !r)
        return r;
    for (const auto& c : f.changes) {
      // A service may keep strings from untrusted input, which need not be
      // UTF-8: replaced, not thrown on.
      auto r = c.value ? t.state_put(f.service, c.table, c.key,
                                     c.value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                       : t.state_erase(f.service, c.table, c.key);
      if (!r)
        return r;
    }
  }
  for (auto& d : parked) {
    std::string bytes;
    if (auto r = wire::encode(*d.ev, bytes); !r)
      return r;
    auto id = t.inbox_add(d.target, d.rule, bytes, d.retry);
    if (!id)
      return id.err();
    d.inbox_id = *id;
  }
  for (const auto& d : rescheduled)
    if (auto r = t.inbox_retry(d.inbox_id, d.retry); !r)
      return r;
  for (const auto& [key, cur] : cursors)
    if (auto r = t.cursor_set(key.first, key.second, cur); !r)
      return r;
  return {};
}

result<void> write_staged(store::txn& t, std::vector<staged_event>& events, bool journal) {
  std::map<std::string, std::uint64_t> heads;
  for (auto& sg : events) {
    if (journal)
      if (auto r = t.trace_add(event_record(*sg.ev)); !r)
        return r;
    if (sg.keep)
      if (auto r = t.outbox_append(sg.stream, sg.seq, sg.time_ms, sg.bytes); !r)
        return r;
    auto& h = heads[sg.stream];
    h = std::max(h, sg.seq);
    sg.inbox_ids.clear();
    for (const auto& [target, rule] : sg.targets) {
      auto id = t.inbox_add(target, rule, sg.bytes);
      if (!id)
        return id.err();
      sg.inbox_ids.push_back(*id);
    }
  }
  for (const auto& [stream, head] : heads)
    if (auto r = t.stream_head(stream, head); !r)
      return r;
  return {};
}

std::shared_ptr<wire::envelope> make_event(std::string source, std::string detail_type, std::string detail,
                                           std::string correlation_id, std::string causation_id,
                                           std::vector<std::string> resources, std::int64_t time_ms) {
  auto ev = std::make_shared<wire::envelope>();
  ev->id = wire::make_uuid();
  ev->source = std::move(source);
  ev->detail_type = std::move(detail_type);
  ev->time_ms = time_ms != 0 ? time_ms : wire::now_ms();
  ev->resources = std::move(resources);
  ev->correlation_id = correlation_id.empty() ? ev->id : std::move(correlation_id);
  ev->causation_id = std::move(causation_id);
  ev->detail = std::move(detail);
  return ev;
}

}  // namespace troupe::runtime
