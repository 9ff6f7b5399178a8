// The matcher (rules/matcher.hpp) on random events: the rules of
// rule_set.hpp in one matcher, and the input as the MessagePack bytes of an
// event, untrusted as a detail from the wire. No crash, no read out of
// bounds; the matches are ascending and distinct; each rule matches in the
// shared matcher exactly when a matcher of that rule alone does (sharing
// indexes between rules changes no answer); and an event made of an
// envelope's fields (id, source, detail-type, time, resources, detail)
// matches the same rules given as an event_view, as the node matches
// every envelope, as given as one map.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/check.hpp"
#include "fuzz/rule_set.hpp"
#include "rules/matcher.hpp"
#include "wire/envelope.hpp"
#include "wire/limits.hpp"
#include "wire/msgpack_io.hpp"

using namespace troupe;

namespace {

struct matchers {
  rules::matcher all;
  std::vector<rules::matcher> alone;

  matchers() {
    for (const char* pattern : fuzz::rule_set) {
      FUZZ_CHECK(all.add(pattern, pattern));
      rules::matcher one;
      FUZZ_CHECK(one.add(pattern, pattern));
      one.compile();
      alone.push_back(std::move(one));
    }
    all.compile();
  }
};

const matchers& rules_once() {
  static const matchers m;
  return m;
}

bool ascending_and_distinct(const std::vector<std::size_t>& hits, std::size_t rules) {
  for (std::size_t i = 0; i < hits.size(); ++i)
    if (hits[i] >= rules || (i > 0 && hits[i - 1] >= hits[i]))
      return false;
  return true;
}

struct envelope_fields {
  std::string id, source, detail_type;
  std::int64_t time_ms = 0;
  std::vector<std::string> resources;
  std::string detail;  // empty: none
};

// From 1970 to 9999: the years that four digits write, where the matcher's
// rendering of `time` and wire::format_time must agree.
constexpr std::int64_t max_time_ms = 253402300799999;

/// The map's fields when it has only an envelope's, each once and of its
/// type (the detail a map, within the wire's detail limits); else nullopt.
std::optional<envelope_fields> as_envelope(std::string_view bytes) {
  if (bytes.empty())
    return std::nullopt;
  const auto tag = static_cast<std::uint8_t>(bytes[0]);
  std::uint64_t n = 0;
  std::size_t at = 1;
  if ((tag & 0xf0) == 0x80) {
    n = tag & 0x0f;
  } else if (tag == 0xde && bytes.size() >= 3) {
    n = static_cast<std::uint8_t>(bytes[1]) << 8 | static_cast<std::uint8_t>(bytes[2]);
    at = 3;
  } else {
    return std::nullopt;
  }
  wire::reader in(bytes, at);
  envelope_fields e;
  std::vector<std::string_view> seen;
  const auto text = [&](std::string& into) {
    auto s = in.str("field", wire::max_string_bytes);
    if (s)
      into.assign(s->data(), s->size());
    return bool(s);
  };
  for (std::uint64_t i = 0; i < n; ++i) {
    auto key = in.str("key", 16);
    if (!key || std::find(seen.begin(), seen.end(), *key) != seen.end())
      return std::nullopt;
    seen.push_back(*key);
    bool ok = false;
    if (*key == "id") {
      ok = text(e.id);
    } else if (*key == "source") {
      ok = text(e.source);
    } else if (*key == "detail-type") {
      ok = text(e.detail_type);
    } else if (*key == "time") {
      auto t = in.integer("time");
      ok = t && *t >= 0 && *t <= max_time_ms;
      e.time_ms = ok ? *t : 0;
    } else if (*key == "resources") {
      auto count = in.array("resources", wire::max_resources);
      ok = bool(count);
      for (std::uint32_t k = 0; ok && k < *count; ++k)
        ok = text(e.resources.emplace_back());
    } else if (*key == "detail") {
      auto d = in.value(wire::detail_limits, "detail");
      ok = d && wire::check_detail(*d);
      if (ok)
        e.detail.assign(d->data(), d->size());
    }
    if (!ok)
      return std::nullopt;
  }
  if (!in.at_end())
    return std::nullopt;
  return e;
}

/// The event as one map, every field present, as the view presents it.
std::string as_map(const envelope_fields& e) {
  std::string out;
  wire::string_sink sink{out};
  msgpack::packer<wire::string_sink> pk(sink);
  pk.pack_map(e.detail.empty() ? 5 : 6);
  pk.pack(std::string("id"));
  pk.pack(e.id);
  pk.pack(std::string("source"));
  pk.pack(e.source);
  pk.pack(std::string("detail-type"));
  pk.pack(e.detail_type);
  pk.pack(std::string("time"));
  pk.pack(wire::format_time(e.time_ms));
  pk.pack(std::string("resources"));
  pk.pack(e.resources);
  if (!e.detail.empty()) {
    pk.pack(std::string("detail"));
    out += e.detail;
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& m = rules_once();
  const auto in = fuzz::bytes_of(data, size);
  std::vector<std::size_t> hits;
  m.all.match_msgpack(in, hits);
  FUZZ_CHECK(ascending_and_distinct(hits, m.all.size()));
  std::vector<std::size_t> one;
  for (std::size_t i = 0; i < m.alone.size(); ++i) {
    one.clear();
    m.alone[i].match_msgpack(in, one);
    const bool shared = std::binary_search(hits.begin(), hits.end(), i);
    FUZZ_CHECK(one.size() <= 1);
    FUZZ_CHECK(shared == !one.empty());
  }
  if (auto e = as_envelope(in)) {
    const rules::event_view view{e->id, e->source, e->detail_type, e->time_ms, &e->resources, e->detail};
    std::vector<std::size_t> by_view, by_map;
    m.all.match(view, by_view);
    m.all.match_msgpack(as_map(*e), by_map);
    FUZZ_CHECK(by_view == by_map);
  }
  return 0;
}
