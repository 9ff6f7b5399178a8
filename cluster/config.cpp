#include "cluster/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "cluster/bind_address.hpp"
#include "cluster/directory_check.hpp"
#include "cluster/gateway.hpp"
#include "cluster/hosts.hpp"
#include "wire/limits.hpp"
#include "cluster/scalars.hpp"
#include "cluster/yaml_scan.hpp"
#include "rules/matcher.hpp"

namespace troupe::cluster {

namespace fs = std::filesystem;

const node_spec* config::find_node(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

const host_spec* config::find_host(const std::string& name) const {
  for (const auto& h : hosts)
    if (h.name == name)
      return &h;
  return nullptr;
}

std::vector<const node_spec*> config::nodes_on(const std::string& host) const {
  std::vector<const node_spec*> out;
  for (const auto& n : nodes)
    if (n.host == host)
      out.push_back(&n);
  return out;
}

std::vector<std::string> config::host_names() const {
  std::vector<std::string> out;
  for (const auto& n : nodes)
    if (std::find(out.begin(), out.end(), n.host) == out.end())
      out.push_back(n.host);
  return out;
}

const client_spec* config::find_client(const std::string& name) const {
  for (const auto& c : clients)
    if (c.name == name)
      return &c;
  return nullptr;
}

const node_spec* config::node_hosting(const std::string& service) const {
  for (const auto& n : nodes)
    if (std::find(n.services.begin(), n.services.end(), service) != n.services.end())
      return &n;
  return nullptr;
}

std::chrono::milliseconds full_jitter(std::chrono::milliseconds base, std::chrono::milliseconds cap, int attempt,
                                      std::mt19937_64& rng) {
  const double grown = static_cast<double>(base.count()) * std::ldexp(1.0, std::clamp(attempt, 0, 30));
  const auto ceiling = static_cast<long long>(std::min(grown, static_cast<double>(cap.count())));
  return std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, ceiling)(rng));
}

std::chrono::milliseconds config::event_age_of(const std::string& detail_type) const {
  std::optional<std::chrono::milliseconds> age;
  for (const auto& r : rules)
    if (!r.detail_types
        || std::find(r.detail_types->begin(), r.detail_types->end(), detail_type) != r.detail_types->end())
      age = std::max(age.value_or(r.retry.maximum_event_age), r.retry.maximum_event_age);
  return age.value_or(retry_policy{}.maximum_event_age);
}

YAML::Node config::settings_of(const std::string& service) const {
  if (services.IsMap()) {
    const YAML::Node& all = services;
    const YAML::Node s = all[service];
    if (s.IsDefined())
      return s;
  }
  return YAML::Node(YAML::NodeType::Null);
}

namespace {

bool plain(const YAML::Node& n) { return n.Tag() == "?"; }

// Text that is not UTF-8 is reported where it is read; here it must not
// throw, as nlohmann::json's dump does by default.
std::string json_string(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string scalar_to_json(const YAML::Node& n) {
  const auto& s = n.Scalar();
  if (plain(n)) {
    if (s == "null" || s == "Null" || s == "NULL" || s == "~" || s.empty())
      return "null";
    if (s == "true" || s == "True" || s == "TRUE")
      return "true";
    if (s == "false" || s == "False" || s == "FALSE")
      return "false";
    if (core_float(s)) {
      // JSON has no leading '+' and no bare '.5'.
      std::string t = s[0] == '+' ? s.substr(1) : s;
      if (!t.empty() && t[0] == '.')
        t.insert(0, "0");
      else if (t.size() > 1 && t[0] == '-' && t[1] == '.')
        t.insert(1, "0");
      if (!t.empty() && t.back() == '.')
        t += '0';
      return t;
    }
  }
  return json_string(s);
}

void to_json_text(const YAML::Node& n, std::string& out) {
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out += "null";
      return;
    case YAML::NodeType::Scalar:
      out += scalar_to_json(n);
      return;
    case YAML::NodeType::Sequence: {
      out += '[';
      bool first = true;
      for (const auto& e : n) {
        if (!first)
          out += ',';
        first = false;
        to_json_text(e, out);
      }
      out += ']';
      return;
    }
    case YAML::NodeType::Map: {
      out += '{';
      bool first = true;
      for (const auto& kv : n) {
        if (!first)
          out += ',';
        first = false;
        out += json_string(kv.first.Scalar());
        out += ':';
        to_json_text(kv.second, out);
      }
      out += '}';
      return;
    }
  }
}

// Finds the YAML node a pattern error path ("detail.amount[0].numeric")
// points at, as far as the path can be followed, to report its position.
YAML::Node locate(YAML::Node at, const std::string& path) {
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      auto close = path.find(']', i);
      if (close == std::string::npos || !at.IsSequence())
        return at;
      const auto idx = std::stoul("0" + path.substr(i + 1, close - i - 1));
      if (idx >= at.size())
        return at;
      at = at[idx];
      i = close + 1;
      continue;
    }
    auto end = path.find_first_of(".[", i);
    const auto key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
    if (!at.IsMap())
      return at;
    YAML::Node next;
    for (const auto& kv : at)
      if (kv.first.Scalar() == key)
        next = kv.second;
    if (!next)
      return at;
    at = next;
    i = end == std::string::npos ? path.size() : end;
  }
  return at;
}

class validator {
 public:
  validator(diagnostics& diag) : diag_(diag) {}

  void keys(const YAML::Node& map, std::initializer_list<const char*> allowed, const std::string& where) {
    for (const auto& kv : map) {
      const auto k = kv.first.Scalar();
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; })) {
        std::string list;
        for (auto a : allowed)
          list += (list.empty() ? "" : ", ") + std::string(a);
        diag_.add(kv.first, where + ": unknown key '" + k + "' (expected one of: " + list + ")");
      }
    }
  }

  std::optional<std::string> string(const YAML::Node& parent, const char* key, const std::string& where,
                                    bool required) {
    auto n = parent[key];
    if (!n) {
      if (required)
        diag_.add(parent, where + ": missing '" + key + "'");
      return std::nullopt;
    }
    if (!n.IsScalar() || n.Scalar().empty()) {
      diag_.add(n, where + "." + key + ": must be a non-empty string");
      return std::nullopt;
    }
    return n.Scalar();
  }

  // Numbers are plain scalars in YAML's core schema: a quoted "5" is a
  // string, and so are .inf and .nan, which no setting here wants.
  std::optional<long long> integer(const YAML::Node& n, const std::string& where, long long min, long long max) {
    if (n.IsScalar() && plain(n) && core_integer(n.Scalar())) {
      const long long i = std::strtoll(n.Scalar().c_str(), nullptr, 10);  // saturates, still out of range
      if (i >= min && i <= max)
        return i;
    }
    diag_.add(n, where + ": must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return std::nullopt;
  }

  // A duration in seconds, more than 0 and at most `max`; rounded up to
  // whole milliseconds so that a tiny positive value never becomes zero.
  /// A probability: a number from 0 to 1.
  std::optional<double> probability(const YAML::Node& n, const std::string& where) {
    if (n.IsScalar() && plain(n) && core_float(n.Scalar())) {
      const double d = std::strtod(n.Scalar().c_str(), nullptr);
      if (d >= 0 && d <= 1)
        return d;
    }
    diag_.add(n, where + ": must be a probability, a number from 0 to 1");
    return std::nullopt;
  }

  /// A number of seconds in (0, max], or in [min, max] when min > 0.
  /// A number of seconds in (0, max], or [min, max] when `min` is set;
  /// `min` 0 with `zero_ok` allows 0 too.
  std::optional<std::chrono::milliseconds> seconds(const YAML::Node& n, const std::string& where, double max,
                                                   double min = 0, bool zero_ok = false) {
    if (n.IsScalar() && plain(n) && core_float(n.Scalar())) {
      const double d = std::strtod(n.Scalar().c_str(), nullptr);  // HUGE_VAL when too big: out of range
      if ((d > 0 || (zero_ok && d == 0)) && d >= min && d <= max)
        return std::chrono::milliseconds(static_cast<long long>(std::ceil(d * 1000)));
    }
    std::ostringstream m;
    if (zero_ok)
      m << "from 0 to " << max;
    else if (min > 0)
      m << "from " << min << " to " << max;
    else
      m << "more than 0 and at most " << max;
    diag_.add(n, where + ": must be a number of seconds, " + m.str());
    return std::nullopt;
  }

 private:
  diagnostics& diag_;
};

std::string in_seconds(std::chrono::milliseconds d) {
  std::ostringstream s;
  s << static_cast<double>(d.count()) / 1000 << " s";
  return s.str();
}

// The optional `faults` section: service name -> what to inject.
std::map<std::string, fault_spec> read_faults(const YAML::Node& faults, const std::map<std::string, std::string>& owner,
                                              validator& v, diagnostics& diag) {
  std::map<std::string, fault_spec> out;
  if (!faults.IsDefined() || faults.IsNull())
    return out;
  if (!faults.IsMap()) {
    diag.add(faults, "faults: must be a map from service name to the faults to inject");
    return out;
  }
  for (const auto& kv : faults) {
    const auto name = kv.first.Scalar();
    const auto where = "faults." + name;
    if (!owner.count(name)) {
      diag.add(kv.first, where + ": no node runs this service");
      continue;
    }
    const YAML::Node& f = kv.second;
    if (!f.IsMap()) {
      diag.add(f, where + ": must be a map with 'transient', 'crash', 'poison', 'delay' or 'outage'");
      continue;
    }
    v.keys(f, {"transient", "crash", "poison", "delay", "delay-probability", "outage", "seed"}, where);
    fault_spec spec;
    if (const YAML::Node n = f["seed"])
      if (auto i = v.integer(n, where + ".seed", 0, std::numeric_limits<long long>::max()))
        spec.seed = static_cast<std::uint64_t>(*i);
    if (const YAML::Node n = f["transient"])
      spec.transient = v.probability(n, where + ".transient").value_or(0);
    if (const YAML::Node n = f["crash"])
      spec.crash = v.probability(n, where + ".crash").value_or(0);
    if (const YAML::Node p = f["poison"]) {
      spec.poison_json = p.IsScalar() && !plain(p) ? p.Scalar() : yaml_to_json(p);
      if (auto valid = rules::validate(spec.poison_json); !valid) {
        diag.add(p.IsScalar() ? p : locate(p, valid.err().path), where + ".poison: " + valid.err().to_string());
        spec.poison_json.clear();
      }
    }
    if (const YAML::Node n = f["delay"])
      spec.delay = v.seconds(n, where + ".delay", 3600).value_or(spec.delay);
    if (const YAML::Node n = f["delay-probability"])
      spec.delay_probability = v.probability(n, where + ".delay-probability").value_or(1);
    if (const YAML::Node o = f["outage"]) {
      if (!o.IsMap() || !o["after"] || !o["for"]) {
        diag.add(o, where + ".outage: must be a map with 'after' and 'for' (seconds)");
      } else {
        v.keys(o, {"after", "for"}, where + ".outage");
        spec.outage_after = v.seconds(o["after"], where + ".outage.after", 86400, 0, true).value_or(spec.outage_after);
        spec.outage_for = v.seconds(o["for"], where + ".outage.for", 86400).value_or(spec.outage_for);
      }
    }
    out[name] = std::move(spec);
  }
  return out;
}

// `backoff-base` and `backoff-cap` of the map `m`, each at most 300 s, and
// the base no more than the cap.
void read_backoff(const YAML::Node& m, const std::string& where, validator& v, diagnostics& diag,
                  std::chrono::milliseconds& base_out, std::chrono::milliseconds& cap_out) {
  const YAML::Node base = m["backoff-base"];
  const YAML::Node cap = m["backoff-cap"];
  bool ok = true;
  if (base) {
    auto d = v.seconds(base, where + ".backoff-base", 300);
    ok = ok && d;
    base_out = d.value_or(base_out);
  }
  if (cap) {
    auto d = v.seconds(cap, where + ".backoff-cap", 300);
    ok = ok && d;
    cap_out = d.value_or(cap_out);
  }
  if (ok && base_out > cap_out) {
    if (base)
      diag.add(base, where + ".backoff-base: " + in_seconds(base_out) + " is more than backoff-cap ("
                         + in_seconds(cap_out) + ")");
    else
      diag.add(cap, where + ".backoff-cap: " + in_seconds(cap_out) + " is less than backoff-base ("
                        + in_seconds(base_out) + ")");
  }
}

// The optional `supervision` section; what it leaves out keeps its default.
supervision_spec read_supervision(const YAML::Node& sup, validator& v, diagnostics& diag) {
  supervision_spec s;
  if (!sup.IsDefined() || sup.IsNull())
    return s;
  if (!sup.IsMap()) {
    diag.add(sup, "supervision: must be a map with 'max-restarts', 'within', 'backoff-base' or 'backoff-cap'");
    return s;
  }
  v.keys(sup, {"max-restarts", "within", "backoff-base", "backoff-cap"}, "supervision");
  if (const YAML::Node n = sup["max-restarts"])
    if (auto i = v.integer(n, "supervision.max-restarts", 0, 1000))
      s.max_restarts = static_cast<int>(*i);
  if (const YAML::Node n = sup["within"])
    if (auto d = v.seconds(n, "supervision.within", 86400))
      s.within = *d;
  read_backoff(sup, "supervision", v, diag, s.backoff_base, s.backoff_cap);
  return s;
}

// The optional `observability` section; what it leaves out keeps its default.
observability_spec read_observability(const YAML::Node& o, validator& v, diagnostics& diag) {
  observability_spec s;
  if (!o.IsDefined() || o.IsNull())
    return s;
  if (!o.IsMap()) {
    diag.add(o, "observability: must be a map with 'terminal', 'trace-retention' or 'trace-records'");
    return s;
  }
  v.keys(o, {"terminal", "trace-retention", "trace-records"}, "observability");
  if (const YAML::Node t = o["terminal"]) {
    if (!t.IsSequence()) {
      diag.add(t, "observability.terminal: must be a list of detail-types");
    } else {
      for (const auto& x : t) {
        if (!x.IsScalar() || x.Scalar().empty() || x.Scalar().size() > wire::max_string_bytes)
          diag.add(x, "observability.terminal: a detail-type must be a non-empty string");
        else if (std::find(s.terminal.begin(), s.terminal.end(), x.Scalar()) != s.terminal.end())
          diag.add(x, "observability.terminal: '" + x.Scalar() + "' is listed twice");
        else
          s.terminal.push_back(x.Scalar());
      }
    }
  }
  if (const YAML::Node n = o["trace-retention"])
    if (auto d = v.seconds(n, "observability.trace-retention", 90 * 86400))
      s.trace_retention = *d;
  if (const YAML::Node n = o["trace-records"])
    if (auto i = v.integer(n, "observability.trace-records", 0, 1000000000))
      s.trace_records = *i;
  return s;
}

// A rule's optional `retry-policy`; what it leaves out keeps its default.
retry_policy read_retry_policy(const YAML::Node& rp, const std::string& where, validator& v, diagnostics& diag) {
  retry_policy p;
  if (!rp.IsDefined() || rp.IsNull())
    return p;
  const auto at = where + ".retry-policy";
  if (!rp.IsMap()) {
    diag.add(rp, at + ": must be a map with 'maximum-retry-attempts', 'maximum-event-age', 'backoff-base', "
                      "'backoff-cap' or 'handler-timeout'");
    return p;
  }
  v.keys(rp, {"maximum-retry-attempts", "maximum-event-age", "backoff-base", "backoff-cap", "handler-timeout"}, at);
  if (const YAML::Node n = rp["handler-timeout"])
    if (auto d = v.seconds(n, at + ".handler-timeout", 900))
      p.handler_timeout = *d;
  if (const YAML::Node n = rp["maximum-retry-attempts"])
    if (auto i = v.integer(n, at + ".maximum-retry-attempts", 0, 185))
      p.maximum_retry_attempts = static_cast<int>(*i);
  if (const YAML::Node n = rp["maximum-event-age"])
    if (auto d = v.seconds(n, at + ".maximum-event-age", 86400, 60))
      p.maximum_event_age = *d;
  read_backoff(rp, at, v, diag, p.backoff_base, p.backoff_cap);
  return p;
}

// The runtime's own routes for each DLQ that some rule names: dead letters
// to it, and the CLI's commands (redrive, purge) to it. The dead-letter
// route keeps trying for as long as EventBridge allows.
void add_dead_letter_rules(config& cfg) {
  std::set<std::string> dlqs;
  for (const auto& r : cfg.rules)
    if (!r.dead_letter_queue.empty())
      dlqs.insert(r.dead_letter_queue);
  for (const auto& dlq : dlqs) {
    const nlohmann::json which = {{"dead-letter-queue", {dlq}}};
    rule_spec letters;
    letters.name = "troupe.dead-letters." + dlq;
    letters.pattern_json = nlohmann::json{{"source", {dead_letter_source}},
                                          {"detail-type", {dead_letter_type}},
                                          {"detail", which}}.dump();
    letters.target = dlq;
    letters.detail_types = std::vector<std::string>{dead_letter_type};
    letters.internal = true;
    rule_spec commands = letters;
    commands.name = "troupe.dlq-commands." + dlq;
    commands.pattern_json = nlohmann::json{{"source", {dlq_command_source}},
                                           {"detail-type", {"DeadLetterRedriveRequested", "DeadLetterPurgeRequested"}},
                                           {"detail", which}}.dump();
    commands.detail_types = std::vector<std::string>{"DeadLetterRedriveRequested", "DeadLetterPurgeRequested"};
    commands.retry.maximum_retry_attempts = 10;
    cfg.rules.push_back(std::move(letters));
    cfg.rules.push_back(std::move(commands));
  }
}

/// What a node binds for an endpoint its peers dial: libzmq binds no
/// names (it reads one as an interface), so `localhost` binds 127.0.0.1 and
/// any other name every address, as a host named by DNS does.
std::string endpoint_to_bind(const std::string& e) {
  if (e.rfind("tcp://", 0) != 0)
    return e;
  const auto colon = e.rfind(':');
  std::string host = e.substr(6, colon - 6);
  if (host.empty() || host.front() == '[')
    return e;
  in_addr v4{};
  if (inet_aton(host.c_str(), &v4) != 0)
    return e;
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!host.empty() && host.back() == '.')
    host.pop_back();
  return (host == "localhost" ? "tcp://127.0.0.1" : "tcp://*") + e.substr(colon);
}

std::optional<config> validate(const YAML::Node& root, config cfg, const service_check& check,
                               diagnostics& diag) {
  validator v(diag);
  if (!root.IsMap()) {
    if (root.IsNull() && root.Mark().is_null())  // no document at all
      diag.add(1, 1, "the config is empty: it must be a map with 'cluster', 'nodes' and 'rules'");
    else
      diag.add(root, "the config must be a map with 'cluster', 'nodes' and 'rules'");
    return std::nullopt;
  }
  v.keys(root, {"cluster", "data-dir", "nodes", "services", "rules", "supervision", "faults", "clients", "hosts", "gateway",
                "observability"},
         "config");
  cfg.cluster = v.string(root, "cluster", "config", true).value_or("");
  if (!cfg.cluster.empty() && !cluster_name(cfg.cluster))
    diag.add(root["cluster"], "cluster: only letters, digits, '.', '_' and '-' are allowed");
  const auto data_dir = v.string(root, "data-dir", "config", false);
  cfg.data_dir = fs::absolute(cfg.dir / data_dir.value_or("data")).lexically_normal();
  // Each node's directory is checked below, once the data-dir is known good.
  bool data_dir_ok = data_dir || !root["data-dir"];
  if (data_dir_ok)
    if (auto why = directory_problem(cfg.data_dir)) {
      data_dir_ok = false;
      if (data_dir)
        diag.add(root["data-dir"], "data-dir: " + *why);
      else
        diag.add(root, "data-dir: " + *why + " (the default, 'data' beside the config)");
    }
  cfg.supervision = read_supervision(root["supervision"], v, diag);
  cfg.observability = read_observability(root["observability"], v, diag);

  // Services: the settings sections, checked only for services some node runs.
  // yaml-cpp: assigning a missing node (rather than copying it) throws.
  const YAML::Node services = root["services"];
  if (services.IsDefined()) {
    cfg.services.reset(services);
    if (!services.IsMap() && !services.IsNull())
      diag.add(services, "services: must be a map from service name to its settings");
  }
  // By name, as settings_of finds them (the first of a name), without a
  // search through the whole map for every service a node runs.
  std::unordered_map<std::string, YAML::Node> settings;
  if (services.IsDefined() && services.IsMap())
    for (const auto& kv : services)
      settings.emplace(kv.first.Scalar(), kv.second);

  cfg.hosts = read_hosts(root["hosts"], diag);
  std::string host_list;
  for (const auto& h : cfg.hosts)
    host_list += (host_list.empty() ? "" : ", ") + h.name;

  // Nodes.
  auto nodes = root["nodes"];
  std::map<std::string, bind_table> binds;  // by host: what one machine binds
  std::map<std::string, std::string> service_owner;
  if (!nodes)
    diag.add(root, "config: missing 'nodes'");
  else if (!nodes.IsMap() || nodes.size() == 0)
    diag.add(nodes, "nodes: must be a non-empty map from node name to its settings");
  else
    for (const auto& kv : nodes) {
      node_spec node;
      node.name = kv.first.Scalar();
      const std::string where = "nodes." + node.name;
      if (!node_name(node.name))
        diag.add(kv.first, where + ": a node name is 1 to 32 of a-z, 0-9, '_', '-', starting with a letter");
      const auto& n = kv.second;
      if (!n.IsMap()) {
        diag.add(n, where + ": must be a map with 'endpoints' and 'services'");
        continue;
      }
      v.keys(n, {"host", "endpoints", "ports", "services", "durability", "public-key", "public-key-file", "secret-key-file",
                 "secret-key-env", "secret-key", "emits"},
             where);
      auto access = read_node_access(n, where, cfg.dir, diag);
      node.public_key = std::move(access.public_key);
      node.secret = std::move(access.secret);
      node.emits = std::move(access.emits);
      node.host = v.string(n, "host", where, false).value_or("local");
      const host_spec* host = nullptr;
      if (!root["hosts"].IsDefined()) {
        // No `hosts`: the label only groups nodes for `launch --host`.
      } else if (!n["host"]) {
        diag.add(n, where + ": missing 'host' (the config's hosts: " + host_list + ")");
      } else if (!(host = cfg.find_host(node.host)) && !host_list.empty()) {
        diag.add(n["host"], where + ".host: unknown host '" + node.host + "' (the config's hosts: " + host_list + ")");
      }
      node.durability = v.string(n, "durability", where, false).value_or("os");
      if (node.durability != "os" && node.durability != "fsync" && node.durability != "none")
        diag.add(n["durability"], where + ".durability: '" + node.durability + "' is not one of fsync, os, none");
      const auto claim = [&](const bind_address& address, const std::string& owner, const YAML::Node& at) {
        // Without `hosts`, every endpoint is bound on the machine that launches them all.
        const bool hosts = root["hosts"].IsDefined();
        if (auto c = binds[hosts ? node.host : std::string()].claim(address, owner)) {
          const auto on = hosts ? " on host " + node.host : std::string();
          if (c->text == address.text)
            diag.add(at, owner + ": '" + address.text + "' is already used by " + c->owner + on);
          else
            diag.add(at, owner + ": '" + address.text + "' conflicts with " + c->owner + " ('" + c->text + "')" + on
                             + ": " + c->reason);
        }
      };
      auto eps = n["endpoints"];
      auto ports = n["ports"];
      if (eps && ports) {
        diag.add(ports, where + ": give 'endpoints' or 'ports', not both");
      } else if (ports) {
        if (!host) {
          if (!root["hosts"].IsDefined())
            diag.add(ports, where + ".ports: ports need the node's host and its address in 'hosts'; or give "
                                    "'endpoints'");
        } else if (!ports.IsMap()) {
          diag.add(ports, where + ": 'ports' must be a map with 'pub' and 'control', e.g. {pub: 7101, control: 7102}");
        } else {
          v.keys(ports, {"pub", "control", "metrics"}, where + ".ports");
          if (ports["metrics"])
            if (auto port = v.integer(ports["metrics"], where + ".ports.metrics", 1, 65535)) {
              const auto address = bind_of(*host, static_cast<int>(*port));
              claim(address, where + ".ports.metrics", ports["metrics"]);
              node.metrics = host_port(host->address, static_cast<int>(*port));
              node.metrics_bind = host_port(host->bind == "*" ? "0.0.0.0" : host->bind, static_cast<int>(*port));
            }
          for (const char* key : {"pub", "control"}) {
            if (!ports[key]) {
              diag.add(ports, where + ".ports: missing '" + key + "'");
              continue;
            }
            const auto port = v.integer(ports[key], where + ".ports." + key, 1, 65535);
            if (!port)
              continue;
            const auto address = bind_of(*host, static_cast<int>(*port));
            claim(address, where + ".ports." + key, ports[key]);
            const bool pub = std::string(key) == "pub";
            (pub ? node.pub : node.control) = tcp_endpoint(host->address, static_cast<int>(*port));
            (pub ? node.pub_bind : node.control_bind) = address.text;
          }
        }
      } else if (!eps || !eps.IsMap()) {
        diag.add(eps ? eps : n, where + ": 'endpoints' must be a map with 'pub' and 'control'"
                                     + std::string(cfg.hosts.empty() ? "" : ", or give 'ports' on its host"));
      } else {
        v.keys(eps, {"pub", "control", "metrics"}, where + ".endpoints");
        if (auto m = v.string(eps, "metrics", where + ".endpoints", false)) {
          const auto owner = where + ".endpoints.metrics";
          std::string why;
          const auto listen = parse_listen(*m);
          const auto address = listen ? parse_bind_address("tcp://" + *m, why) : std::nullopt;
          if (!address)
            diag.add(eps["metrics"], owner + ": '" + printable(*m)
                                         + "' is not IP:PORT (an IP address and a port from 1 to 65535), "
                                           "e.g. 127.0.0.1:7103");
          else {
            claim(*address, owner, eps["metrics"]);
            node.metrics = node.metrics_bind = *m;
          }
        }
        for (const char* key : {"pub", "control"}) {
          auto e = v.string(eps, key, where + ".endpoints", true);
          if (!e)
            continue;
          const auto owner = where + ".endpoints." + key;
          std::string why;
          const auto address = parse_bind_address(*e, why);
          if (!address) {
            diag.add(eps[key], owner + ": " + why);
            continue;
          }
          claim(*address, owner, eps[key]);
          (std::string(key) == "pub" ? node.pub : node.control) = *e;
          (std::string(key) == "pub" ? node.pub_bind : node.control_bind) = endpoint_to_bind(*e);
        }
      }
      auto svcs = n["services"];
      if (!svcs || !svcs.IsSequence() || svcs.size() == 0) {
        diag.add(svcs ? svcs : n, where + ": 'services' must be a non-empty list of service names");
      } else {
        for (const auto& s : svcs) {
          if (!s.IsScalar()) {
            diag.add(s, where + ".services: a service name must be a string");
            continue;
          }
          const auto name = s.Scalar();
          auto [it, fresh] = service_owner.emplace(name, node.name);
          if (!fresh) {
            diag.add(s, where + ".services: '" + name + "' already runs on node '" + it->second + "'");
            continue;
          }
          const auto section = settings.find(name);
          if (!check(name, section != settings.end() ? section->second : YAML::Node(YAML::NodeType::Null), diag))
            diag.add(s, where + ".services: unknown service '" + name + "'");
          node.services.push_back(name);
        }
      }
      node.data_dir = cfg.data_dir / node.name;
      if (data_dir_ok && node_name(node.name))
        if (auto why = directory_problem(node.data_dir))
          diag.add(kv.first, where + ": its data directory " + *why);
      cfg.nodes.push_back(std::move(node));
    }
  if (services.IsDefined() && services.IsMap())
    for (const auto& kv : services)
      if (!service_owner.count(kv.first.Scalar()))
        diag.add(kv.first, "services." + kv.first.Scalar() + ": no node runs this service");
  cfg.faults = read_faults(root["faults"], service_owner, v, diag);
  cfg.clients = read_clients(root["clients"], cfg.dir, diag);
  check_access(root, cfg, diag);
  cfg.gateway = read_gateway(root["gateway"], cfg, diag);

  // Rules.
  auto rules = root["rules"];
  std::set<std::string> rule_names;
  if (!rules)
    diag.add(root, "config: missing 'rules'");
  else if (!rules.IsSequence())
    diag.add(rules, "rules: must be a list of rules");
  else
    for (std::size_t i = 0; i < rules.size(); ++i) {
      const auto& r = rules[i];
      const std::string where = "rules[" + std::to_string(i) + "]";
      if (!r.IsMap()) {
        diag.add(r, where + ": must be a map with 'name', 'pattern' and 'target'");
        continue;
      }
      v.keys(r, {"name", "pattern", "target", "retry-policy", "dead-letter-queue"}, where);
      rule_spec rule;
      rule.line = r.Mark().line + 1;
      rule.name = v.string(r, "name", where, true).value_or("");
      if (!rule.name.empty() && !rule_names.insert(rule.name).second)
        diag.add(r["name"], where + ".name: another rule is already named '" + rule.name + "'");
      if (rule.name.rfind("troupe.", 0) == 0)
        diag.add(r["name"], where + ".name: names starting with 'troupe.' are the runtime's own");
      rule.target = v.string(r, "target", where, true).value_or("");
      if (!rule.target.empty() && !service_owner.count(rule.target))
        diag.add(r["target"], where + ".target: no node runs a service named '" + rule.target + "'");
      if (r["dead-letter-queue"]) {
        rule.dead_letter_queue = v.string(r, "dead-letter-queue", where, false).value_or("");
        const auto& dlq = rule.dead_letter_queue;
        const auto at = where + ".dead-letter-queue";
        if (dlq != dlq_service)
          diag.add(r["dead-letter-queue"], at + ": '" + dlq + "' is not a dead-letter queue (the service is '"
                                               + dlq_service + "')");
        else if (!service_owner.count(dlq))
          diag.add(r["dead-letter-queue"], at + ": no node runs the '" + dlq + "' service");
        else if (service_owner.count(rule.target) && service_owner.at(rule.target) == service_owner.at(dlq))
          diag.add(r["dead-letter-queue"], at + ": '" + dlq + "' runs on node '" + service_owner.at(dlq)
                                               + "' with the target; a DLQ needs a node of its own");
      }
      auto p = r["pattern"];
      if (!p) {
        diag.add(r, where + ": missing 'pattern'");
      } else {
        // A pattern may be written as YAML, as pasted JSON, or as a JSON string.
        if (p.IsScalar() && !plain(p))
          rule.pattern_json = p.Scalar();
        else
          rule.pattern_json = yaml_to_json(p);
        if (auto valid = rules::validate(rule.pattern_json); !valid) {
          auto at = p.IsScalar() ? p : locate(p, valid.err().path);
          diag.add(at, where + ".pattern: " + valid.err().to_string());
        } else {
          rules::matcher m;
          if (auto index = m.add(rule.name, rule.pattern_json))
            rule.detail_types = m.pinned_values(*index, "detail-type");
        }
      }
      rule.retry = read_retry_policy(r["retry-policy"], where, v, diag);
      cfg.rules.push_back(std::move(rule));
    }
  if (!diag.empty())
    return std::nullopt;
  add_dead_letter_rules(cfg);
  return cfg;
}

} // namespace

std::string yaml_to_json(const YAML::Node& node) {
  std::string out;
  to_json_text(node, out);
  return out;
}

std::optional<config> load_text(const std::string& text, const std::string& file, const fs::path& dir,
                                const service_check& check, diagnostics& diag) {
  if (text.size() > max_config_bytes) {
    // Where the limit falls, so that the problem has a place like any other.
    const auto head = std::string_view(text).substr(0, max_config_bytes);
    const auto newlines = std::count(head.begin(), head.end(), '\n');
    const auto line_start = head.rfind('\n') == std::string_view::npos ? 0 : head.rfind('\n') + 1;
    diag.add(static_cast<int>(newlines) + 1, static_cast<int>(max_config_bytes - line_start) + 1,
             "the config is more than " + std::to_string(max_config_bytes) + " bytes, the limit");
    return std::nullopt;
  }
  if (!scan_yaml(text, diag))
    return std::nullopt;
  // yaml-cpp throws; the scan has parsed the same text already, and what
  // validation asks of the nodes should not throw, but neither may escape
  // as an exception without a position.
  try {
    const YAML::Node root = YAML::Load(text);
    config cfg;
    cfg.file = file;
    cfg.dir = fs::absolute(dir).lexically_normal();
    return validate(root, std::move(cfg), check, diag);
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, e.msg);
    return std::nullopt;
  }
}

std::optional<config> load(const std::string& path, const service_check& check, diagnostics& diag) {
  std::ifstream in(path, std::ios::binary);
  std::string text(max_config_bytes + 1, '\0');  // one byte past the limit tells a file too large
  if (in)
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (!in && (in.bad() || !in.eof())) {
    diag.add(0, 0, "cannot read the config file");
    return std::nullopt;
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto dir = fs::path(path).parent_path();
  return load_text(text, path, dir.empty() ? fs::path(".") : dir, check, diag);
}

} // namespace troupe::cluster
