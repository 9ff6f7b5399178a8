// The pattern compiler (rules/pattern.hpp) on arbitrary text, as a config's
// rules and `troupe test-pattern` give it, then the compiled pattern on an
// event. The input is the pattern's JSON, optionally followed by a NUL and
// the event's JSON (a conformance case, in the seeds). Checks: validate,
// compile_pattern and matcher::add agree on whether the pattern is good,
// and on the reason when it is not; compiling is deterministic, and the
// values of each field are sorted and distinct, as the matcher expects.
// On the event, the rule answers the same alone and among the rules of
// rule_set.hpp; and when it matches an event_view (the node's path), the
// detail-type and source it is said to pin (pinned_values, from which a
// node picks the topics it subscribes to) contain the event's.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/check.hpp"
#include "fuzz/rule_set.hpp"
#include "rules/json.hpp"
#include "rules/matcher.hpp"
#include "rules/pattern.hpp"

using namespace troupe;
namespace rd = troupe::rules::detail;

namespace {

std::vector<std::string> identities(const rd::rule_pattern& p) {
  std::vector<std::string> out;
  for (const auto& alt : p.alternatives) {
    for (const auto& f : alt.fields)
      out.push_back(f.identity);
    for (const auto& a : alt.absent)
      out.push_back("absent " + a);
    out.emplace_back("|");
  }
  return out;
}

void check_values_sorted(const rd::rule_pattern& p) {
  FUZZ_CHECK(p.alternatives.size() <= rules::limits::max_alternatives);
  for (const auto& alt : p.alternatives)
    for (const auto& f : alt.fields)
      for (std::size_t i = 1; i < f.values.size(); ++i)
        FUZZ_CHECK(f.values[i - 1].identity < f.values[i].identity);
}

/// The event's envelope fields, as a node would hand them to the matcher;
/// nullopt when the JSON is not an object.
struct view_source {
  std::string id, source, detail_type, detail;
  std::vector<std::string> resources;
};

std::optional<view_source> as_view(std::string_view event_json) {
  auto doc = rd::parse_json(event_json, nullptr);
  if (!doc || !doc->is(rd::json_value::kind::object))
    return std::nullopt;
  view_source v;
  const auto text = [&](const char* name, std::string& into) {
    if (const auto* m = doc->member(name); m && m->is(rd::json_value::kind::string))
      into = m->text;
  };
  text("id", v.id);
  text("source", v.source);
  text("detail-type", v.detail_type);
  if (const auto* r = doc->member("resources"); r && r->is(rd::json_value::kind::array))
    for (const auto& item : r->items)
      if (item.is(rd::json_value::kind::string))
        v.resources.push_back(item.text);
  if (const auto* d = doc->member("detail"); d && d->is(rd::json_value::kind::object))
    rd::write_msgpack(*d, v.detail);
  return v;
}

bool pinned_holds(const rules::matcher& m, std::string_view field, const std::string& value) {
  const auto pinned = m.pinned_values(0, field);
  return !pinned || std::find(pinned->begin(), pinned->end(), value) != pinned->end();
}

void check_on_event(const rules::matcher& alone, const rules::matcher& among, std::size_t index,
                    std::string_view event_json) {
  std::vector<std::size_t> a, b;
  if (auto bytes = rules::json_to_msgpack(event_json)) {
    alone.match_msgpack(*bytes, a);
    among.match_msgpack(*bytes, b);
    FUZZ_CHECK(!a.empty() == std::binary_search(b.begin(), b.end(), index));
  }
  if (auto v = as_view(event_json)) {
    const rules::event_view view{v->id, v->source, v->detail_type, 0, &v->resources, v->detail};
    a.clear();
    b.clear();
    alone.match(view, a);
    among.match(view, b);
    FUZZ_CHECK(!a.empty() == std::binary_search(b.begin(), b.end(), index));
    if (!a.empty()) {
      FUZZ_CHECK(pinned_holds(alone, "detail-type", v->detail_type));
      FUZZ_CHECK(pinned_holds(alone, "source", v->source));
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::bytes_of(data, size);
  const auto cut = in.find('\0');
  const auto pattern = in.substr(0, cut);
  const auto valid = rules::validate(pattern);
  const auto compiled = rd::compile_pattern(pattern);
  rules::matcher alone;
  const auto added = alone.add("fuzz", pattern);
  FUZZ_CHECK(bool(valid) == bool(compiled) && bool(added) == bool(compiled));
  if (!compiled) {
    const auto why = compiled.err().to_string();
    FUZZ_CHECK(!compiled.err().message.empty());
    FUZZ_CHECK(valid.err().to_string() == why && added.err().to_string() == why);
    return 0;
  }
  check_values_sorted(*compiled);
  const auto again = rd::compile_pattern(pattern);
  FUZZ_CHECK(again && identities(*again) == identities(*compiled));
  alone.compile();
  (void)alone.pinned_values(0, "detail-type");
  if (cut == std::string_view::npos)
    return 0;
  // Among every third of the fixed rules (a matcher is built for each
  // input), at an index in the middle of them.
  rules::matcher among;
  const std::size_t count = std::size(fuzz::rule_set), half = count / 2;
  for (std::size_t i = 0; i < half; i += 3)
    FUZZ_CHECK(among.add("fixed", fuzz::rule_set[i]));
  const auto index = among.add("fuzz", pattern);
  FUZZ_CHECK(index);
  for (std::size_t i = half; i < count; i += 3)
    FUZZ_CHECK(among.add("fixed", fuzz::rule_set[i]));
  among.compile();
  check_on_event(alone, among, *index, in.substr(cut + 1));
  return 0;
}
