#include "wire/limits.hpp"

#include <algorithm>
#include <vector>

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

namespace {

// Finds a map with a key that is not a string, or the same string key
// twice. The keys of the maps open on the way down are kept in one vector,
// each map's from where it starts.
struct key_walk : msgpack::null_visitor {
  struct frame {
    std::size_t first_key;
    bool in_key = false;
  };
  std::vector<frame> maps;
  std::vector<std::string_view> keys;
  std::string problem;

  bool not_a_string_key() {
    if (!maps.empty() && maps.back().in_key) {
      problem = "a key that is not a string";
      return false;
    }
    return true;
  }
  bool start_map(std::uint32_t) {
    if (!not_a_string_key())
      return false;
    maps.push_back({keys.size()});
    return true;
  }
  bool start_map_key() { return maps.back().in_key = true, true; }
  bool end_map_key() { return maps.back().in_key = false, true; }
  bool end_map() {
    const auto first = keys.begin() + static_cast<std::ptrdiff_t>(maps.back().first_key);
    if (keys.end() - first > 1) {
      std::sort(first, keys.end());
      const auto dup = std::adjacent_find(first, keys.end());
      if (dup != keys.end()) {
        problem = "the key \"" + std::string(dup->substr(0, 64)) +
                  "\" twice in one map (a rule would match either copy, a service reads one)";
        return false;
      }
    }
    keys.erase(first, keys.end());
    maps.pop_back();
    return true;
  }
  bool visit_str(const char* v, std::uint32_t n) {
    if (!maps.empty() && maps.back().in_key)
      keys.emplace_back(v, n);
    return true;
  }
  bool start_array(std::uint32_t) { return not_a_string_key(); }
  bool visit_nil() { return not_a_string_key(); }
  bool visit_boolean(bool) { return not_a_string_key(); }
  bool visit_positive_integer(std::uint64_t) { return not_a_string_key(); }
  bool visit_negative_integer(std::int64_t) { return not_a_string_key(); }
  bool visit_float32(float) { return not_a_string_key(); }
  bool visit_float64(double) { return not_a_string_key(); }
  bool visit_bin(const char*, std::uint32_t) { return not_a_string_key(); }
  bool visit_ext(const char*, std::uint32_t) { return not_a_string_key(); }
};

} // namespace

result<void> check_keys(std::string_view detail) {
  thread_local key_walk walk;
  walk.maps.clear();
  walk.keys.clear();
  walk.problem.clear();
  std::size_t off = 0;
  bool ok = false;
  try {
    ok = msgpack::parse(detail.data(), detail.size(), off, walk);
  } catch (const std::exception&) {
    ok = false;
  }
  if (!walk.problem.empty())
    return error{errc::invalid_field, "detail: " + walk.problem};
  if (!ok)
    return error{errc::not_msgpack, "detail: not MessagePack"};
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
  if (auto r = check_keys(e.detail); !r)
    return entry_problem{"MalformedDetail", r.err().message};
  return {};
}

} // namespace troupe::wire
