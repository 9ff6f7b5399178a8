// The config loader (cluster/config.hpp) on arbitrary text, as `troupe
// check` and `troupe launch` read a file someone wrote: no crash, no
// exception, no read out of bounds, no walk that runs away (aliases). It
// returns a config exactly when it reports no problem; every problem is
// one printable line of UTF-8; a config it returns has rules whose
// patterns compile and services that a node runs. Every service name is
// known here except those starting with "unknown", and a service's
// settings are walked whole, as a service's own check may do.
#include <string>

#include <yaml-cpp/yaml.h>

#include "cluster/config.hpp"
#include "fuzz/check.hpp"
#include "rules/matcher.hpp"

using namespace troupe;

namespace {

bool check(const std::string& name, const YAML::Node& settings, cluster::diagnostics& diag) {
  if (name.rfind("unknown", 0) == 0)
    return false;
  (void)cluster::yaml_to_json(settings);
  if (name == "beta" && (!settings["size"] || !settings["size"].IsScalar()))
    diag.add(settings, "services.beta: missing 'size'");
  return true;
}

bool printable_line(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f)
      return false;
  return cluster::valid_utf8(s);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  cluster::diagnostics diag("fuzz.yaml");
  // A directory that does not exist: data-dirs resolve under it, and the
  // check of each walks up to "/" without making anything.
  const auto cfg = cluster::load_text(text, "fuzz.yaml", "/nonexistent/troupe-fuzz", check, diag);
  FUZZ_CHECK(cfg.has_value() == diag.empty());
  for (const auto& p : diag.problems()) {
    FUZZ_CHECK(!p.reason.empty());
    FUZZ_CHECK(p.line >= 0 && p.column >= 0);
    FUZZ_CHECK(printable_line(p.to_string()));
  }
  if (!cfg)
    return 0;
  FUZZ_CHECK(!cfg->nodes.empty());
  for (const auto& r : cfg->rules) {
    FUZZ_CHECK(rules::validate(r.pattern_json));
    FUZZ_CHECK(cfg->node_hosting(r.target) != nullptr);
    if (r.detail_types)
      for (const auto& t : *r.detail_types)
        FUZZ_CHECK(cfg->event_age_of(t) >= r.retry.maximum_event_age);
  }
  for (const auto& n : cfg->nodes)
    for (const auto& s : n.services)
      FUZZ_CHECK(cfg->node_hosting(s) == &n);
  return 0;
}
