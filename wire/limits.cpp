#include "wire/limits.hpp"

#include "wire/msgpack_io.hpp"

namespace troupe::wire {

std::size_t entry_size(const entry_view& e) {
  std::size_t n = entry_time_bytes + e.source.size() + e.detail_type.size() + e.detail.size() + e.correlation_id.size();
  if (e.resources)
    for (const auto& r : *e.resources)
      n += r.size();
  return n;
}

namespace {

bool starts_a_map(std::string_view b) {
  const auto c = static_cast<unsigned char>(b.front());
  return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

} // namespace

result<void> check_detail(std::string_view detail) {
  // A walk, not a build: every event made here is checked, so this is on
  // the hot path.
  reader in(detail);
  auto value = in.value(detail_limits, "detail");
  if (!value)
    return value.err();
  if (!in.at_end())
    return error{errc::trailing_bytes, "detail: " + std::to_string(detail.size() - in.offset()) + " bytes after the map"};
  if (!starts_a_map(detail))
    return error{errc::invalid_field, "detail: not a map"};
  return {};
}

entry_problem check_entry(const entry_view& e) {
  const auto invalid = [](std::string what) { return entry_problem{"InvalidArgument", std::move(what)}; };
  if (e.source.empty() || e.detail_type.empty())
    return invalid("source and detail-type are required");
  // A detail-type is a topic frame: a control character first would let it
  // pose as the heartbeat topic.
  if (static_cast<unsigned char>(e.detail_type[0]) < ' ')
    return invalid("detail-type must not start with a control character");
  const auto too_long = [&](const char* field, std::string_view v) -> entry_problem {
    if (v.size() <= max_string_bytes)
      return {};
    return invalid(std::string(field) + " is " + std::to_string(v.size()) + " bytes; at most "
                   + std::to_string(max_string_bytes));
  };
  for (auto p : {too_long("source", e.source), too_long("detail-type", e.detail_type),
                 too_long("correlation-id", e.correlation_id)})
    if (p)
      return p;
  if (e.resources) {
    if (e.resources->size() > max_resources)
      return invalid(std::to_string(e.resources->size()) + " resources; at most " + std::to_string(max_resources));
    for (const auto& r : *e.resources)
      if (auto p = too_long("a resource", r))
        return p;
  }
  if (const auto size = entry_size(e); size > max_entry_bytes)
    return invalid("the entry is " + std::to_string(size) + " bytes; an entry is at most "
                   + std::to_string(max_entry_bytes) + " (source, detail-type, detail, resources and correlation-id)");
  if (auto r = check_detail(e.detail); !r)
    return entry_problem{"MalformedDetail", r.err().message};
  return {};
}

} // namespace troupe::wire
