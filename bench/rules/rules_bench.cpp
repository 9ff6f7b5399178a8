// Matcher throughput on event-ruler's city-lots style benchmark.
//
// Reads the events (JSON lines, from --events, "-" = stdin; run_bench.sh
// pipes them out of the .gz), converts each to MessagePack once, then for
// each rule set of bench_rules.jsonl compiles one matcher and times
// match_msgpack over all events: one pass to count matches, then --passes
// timed passes (median reported). Per-rule match counts are checked against
// event-ruler's in event_ruler_bench.txt; the exit status is 1 when any set
// disagrees, 0 otherwise (speed targets are reported, not enforced).
//
// JSON to MessagePack is timed too: json_to_msgpack (simdjson) against the
// reference reader, in alternating passes over the same events, their
// output compared byte for byte (exit 1 when they differ); and each rule
// set again with the conversion inside the loop ("+JSON"), as event-ruler's
// own figures include its Jackson parse.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <simdjson.h>

#include "rules/json.hpp"
#include "rules/matcher.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct rule_line {
  std::string name, pattern;
};

struct expected_set {
  std::size_t rules = 0;
  double eps_median = 0;
  std::uint64_t total_matches = 0, matched_events = 0, rules_with_match = 0;
  bool has_rules_with_match = false;
  std::map<std::string, std::uint64_t> per_rule;
};

// event-ruler's figures as published in its README (Java, JSON parsing
// included): the targets are 5x these.
const std::map<std::string, double> published = {
    {"exact", 220000}, {"equals-ignore-case", 200000}, {"wildcard", 170000},
    {"anything-but", 150000}, {"numeric", 120000},
};

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: KiB
}

std::string field(const std::string& line, const std::string& key) {
  const std::string needle = key + "=";
  std::size_t at = 0;
  while ((at = line.find(needle, at)) != std::string::npos) {
    if (at == 0 || line[at - 1] == ' ')
      break;
    at += needle.size();
  }
  if (at == std::string::npos)
    return "";
  const std::size_t start = at + needle.size();
  return line.substr(start, line.find(' ', start) - start);
}

bool load_expected(const std::string& path, std::map<std::string, expected_set>& out) {
  std::ifstream in(path);
  if (!in)
    return false;
  std::string line, current;
  while (std::getline(in, line)) {
    if (line.rfind("set=", 0) == 0) {
      current = field(line, "set");
      auto& e = out[current];
      e.rules = std::stoul(field(line, "rules"));
      e.eps_median = std::stod(field(line, "eps_median"));
      e.total_matches = std::stoull(field(line, "totalMatches"));
      e.matched_events = std::stoull(field(line, "matchedEvents"));
    } else if (!current.empty() && line.find("per-rule matches:") != std::string::npos) {
      std::istringstream words(line.substr(line.find(':') + 1));
      std::string w;
      while (words >> w) {
        const auto eq = w.rfind('=');
        out[current].per_rule[w.substr(0, eq)] = std::stoull(w.substr(eq + 1));
      }
    } else if (!current.empty() && line.find("rules with >=1 match:") != std::string::npos) {
      out[current].rules_with_match = std::stoull(line.substr(line.find(':') + 1));
      out[current].has_rules_with_match = true;
    }
  }
  return true;
}

bool load_rules(const std::string& path, std::vector<std::string>& order,
                std::map<std::string, std::vector<rule_line>>& sets) {
  std::ifstream in(path);
  if (!in)
    return false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    std::string why;
    auto doc = troupe::rules::detail::parse_json(line, &why);
    if (!doc) {
      std::cerr << path << ": " << why << "\n";
      return false;
    }
    const auto* set = doc->member("set");
    const auto* name = doc->member("name");
    const auto* pattern = doc->member("pattern");
    if (!set || !name || !pattern)
      return false;
    if (!sets.count(set->text))
      order.push_back(set->text);
    sets[set->text].push_back({name->text, line.substr(pattern->begin, pattern->end - pattern->begin)});
  }
  return true;
}

// Every value of a document through simdjson's On Demand API, numbers as
// doubles; false on any error.
bool walk(simdjson::ondemand::value v) {
  simdjson::ondemand::json_type type;
  if (v.type().get(type))
    return false;
  switch (type) {
    case simdjson::ondemand::json_type::object:
      for (auto field : v.get_object()) {
        simdjson::ondemand::value child;
        if (std::move(field).value().get(child) || !walk(child))
          return false;
      }
      return true;
    case simdjson::ondemand::json_type::array:
      for (auto item : v.get_array()) {
        simdjson::ondemand::value child;
        if (std::move(item).get(child) || !walk(child))
          return false;
      }
      return true;
    case simdjson::ondemand::json_type::number: {
      double d;
      return !v.get_double().get(d);
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view s;
      return !v.get_string().get(s);
    }
    default:
      return true;  // booleans and null: type() read them
  }
}

} // namespace

int main(int argc, char** argv) {
  std::string rules_path, expected_path, events_path = "-";
  int passes = 5;
  std::vector<std::string> only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--rules")
      rules_path = next();
    else if (a == "--expected")
      expected_path = next();
    else if (a == "--events")
      events_path = next();
    else if (a == "--passes")
      passes = std::max(1, std::stoi(next()));
    else if (a == "--set")
      only.push_back(next());
    else {
      std::cerr << "usage: rules_bench --rules FILE --expected FILE [--events FILE|-] [--passes N] [--set NAME]...\n";
      return 2;
    }
  }

  std::vector<std::string> order;
  std::map<std::string, std::vector<rule_line>> sets;
  if (!load_rules(rules_path, order, sets)) {
    std::cerr << "cannot read rules from " << rules_path << "\n";
    return 2;
  }
  // The first 5 rules of the 10,000 (same fields, same operators), to tell
  // how the cost grows with the number of rules alone.
  if (sets.count("many") && sets["many"].size() > 5) {
    auto it = std::find(order.begin(), order.end(), "many");
    order.insert(it, "many-first-5");
    sets["many-first-5"].assign(sets["many"].begin(), sets["many"].begin() + 5);
  }
  std::map<std::string, expected_set> expected;
  if (!load_expected(expected_path, expected)) {
    std::cerr << "cannot read " << expected_path << "\n";
    return 2;
  }

  // Events → MessagePack once, in one buffer (offsets) so that the timed
  // loop measures matching, not allocation.
  std::string buffer;
  std::vector<std::pair<std::size_t, std::size_t>> events;
  std::size_t json_bytes = 0;
  std::string json_buffer;  // the JSON lines, for the conversion timings
  std::vector<std::pair<std::size_t, std::size_t>> json_events;
  {
    std::ifstream file;
    std::istream* in = &std::cin;
    if (events_path != "-") {
      file.open(events_path);
      in = &file;
    }
    const auto t0 = clock_type::now();
    std::string line, why;
    while (std::getline(*in, line)) {
      if (line.empty())
        continue;
      json_bytes += line.size();
      json_events.emplace_back(json_buffer.size(), line.size());
      json_buffer += line;
      auto bytes = troupe::rules::json_to_msgpack(line, &why);
      if (!bytes) {
        std::cerr << "event " << events.size() + 1 << ": " << why << "\n";
        return 2;
      }
      events.emplace_back(buffer.size(), bytes->size());
      buffer += *bytes;
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (events.empty()) {
      std::cerr << "no events read\n";
      return 2;
    }
    std::printf("events: %zu, %.0f bytes JSON / %.0f bytes MessagePack on average (converted in %.2f s)\n",
                events.size(), double(json_bytes) / events.size(), double(buffer.size()) / events.size(), secs);
  }
  auto json_at = [&](std::size_t k) {
    return std::string_view(json_buffer.data() + json_events[k].first, json_events[k].second);
  };
  // The conversion alone: the same bytes from both, then alternating passes.
  for (std::size_t k = 0; k < json_events.size(); ++k) {
    const auto reference = troupe::rules::detail::json_to_msgpack_reference(json_at(k));
    if (!reference || *reference != std::string_view(buffer.data() + events[k].first, events[k].second)) {
      std::cerr << "event " << k + 1 << ": json_to_msgpack and the reference reader differ\n";
      return 1;
    }
  }
  {
    // Modes 2 and 3 are simdjson alone, for scale: its DOM parse of each
    // event, and its On Demand walk over every value with each number read
    // as a double (simdjson's own number parser), both with no output.
    std::vector<double> fast_eps, reference_eps, dom_eps, walk_eps;
    simdjson::ondemand::parser on_demand;
    simdjson::dom::parser dom;
    std::string padded;
    for (int p = 0; p < passes; ++p) {
      for (int mode : {0, 1, 2, 3}) {
        std::size_t sink = 0;
        const auto t0 = clock_type::now();
        for (std::size_t k = 0; k < json_events.size(); ++k) {
          if (mode >= 2) {
            padded.assign(json_at(k));
            padded.append(simdjson::SIMDJSON_PADDING, '\0');
            if (mode == 2) {
              simdjson::dom::element root;
              sink += dom.parse(padded.data(), json_at(k).size(), false).get(root) == simdjson::SUCCESS;
            } else {
              simdjson::ondemand::document doc;
              simdjson::ondemand::value root;
              sink += !on_demand.iterate(padded.data(), json_at(k).size(), padded.size()).get(doc) &&
                      !doc.get_value().get(root) && walk(root);
            }
            continue;
          }
          auto bytes = mode == 1 ? troupe::rules::json_to_msgpack(json_at(k))
                                 : troupe::rules::detail::json_to_msgpack_reference(json_at(k));
          sink += bytes->size();
        }
        const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
        if (sink != (mode >= 2 ? json_events.size() : buffer.size())) {
          std::cerr << "conversion pass " << mode << " came to " << sink << "\n";
          return 1;
        }
        (mode == 0 ? reference_eps : mode == 1 ? fast_eps : mode == 2 ? dom_eps : walk_eps)
            .push_back(double(json_events.size()) / secs);
      }
    }
    std::sort(dom_eps.begin(), dom_eps.end());
    std::sort(walk_eps.begin(), walk_eps.end());
    std::sort(fast_eps.begin(), fast_eps.end());
    std::sort(reference_eps.begin(), reference_eps.end());
    const double mb = double(json_bytes) / json_events.size() / 1e6;
    auto row = [&](const char* name, const std::vector<double>& e) {
      std::printf("  %-28s best %9.0f  median %9.0f  worst %9.0f events/s  (best %6.0f MB/s of JSON, %5.2f us/event)\n",
                  name, e.back(), e[e.size() / 2], e.front(), e.back() * mb, 1e6 / e.back());
    };
    std::printf("JSON to MessagePack, %d passes each, alternating; the same bytes from the first two:\n", passes);
    row("json_to_msgpack (simdjson)", fast_eps);
    row("reference reader", reference_eps);
    row("simdjson DOM parse, no output", dom_eps);
    row("simdjson On Demand, doubles", walk_eps);
    std::printf("  speedup (best / best): %.1fx; target 1,000,000 events/s %s\n\n", fast_eps.back() / reference_eps.back(),
                fast_eps.back() >= 1e6 ? "MET" : "MISSED");
  }
  std::printf("passes: 1 counting + %d timed; events/s and ns/event are the median pass, best ns the fastest; "
              "one thread\n\n",
              passes);
  std::printf("%-26s %6s %8s %9s %11s %9s %8s %11s %7s %11s %7s %10s %7s %s\n", "set", "rules", "build ms",
              "matches/ev", "events/s", "ns/event", "best ns", "+JSON ev/s", "x e-r", "e-r here", "x e-r", "e-r publ.",
              "x publ.", "counts");

  bool all_agree = true;
  double exact_eps = 0, many_eps = 0, many5_eps = 0;
  std::vector<std::string> target_lines;
  std::vector<std::size_t> hits;
  hits.reserve(16384);
  for (const auto& set_name : order) {
    if (!only.empty() && std::find(only.begin(), only.end(), set_name) == only.end())
      continue;
    const auto& rules = sets[set_name];
    troupe::rules::matcher m;
    const auto b0 = clock_type::now();
    for (const auto& r : rules) {
      auto added = m.add(r.name, r.pattern);
      if (!added) {
        std::cerr << set_name << "/" << r.name << ": " << added.err().to_string() << "\n";
        return 2;
      }
    }
    m.compile();
    const double build_ms = std::chrono::duration<double, std::milli>(clock_type::now() - b0).count();

    // Counting pass (also warms caches).
    std::vector<std::uint64_t> per_rule(rules.size(), 0);
    std::uint64_t total = 0, matched_events = 0;
    for (const auto& [off, len] : events) {
      hits.clear();
      m.match_msgpack(std::string_view(buffer.data() + off, len), hits);
      total += hits.size();
      matched_events += !hits.empty();
      for (auto h : hits)
        ++per_rule[h];
    }

    std::vector<double> eps;
    for (int p = 0; p < passes; ++p) {
      std::uint64_t sink = 0;
      const auto t0 = clock_type::now();
      for (const auto& [off, len] : events) {
        hits.clear();
        m.match_msgpack(std::string_view(buffer.data() + off, len), hits);
        sink += hits.size();
      }
      const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
      if (sink != total) {
        std::cerr << set_name << ": pass " << p << " found " << sink << " matches, the first " << total << "\n";
        return 1;
      }
      eps.push_back(double(events.size()) / secs);
    }
    std::sort(eps.begin(), eps.end());
    const double median = eps[eps.size() / 2];

    // The same with JSON in: convert, then match, as event-ruler's figures.
    std::vector<double> json_eps;
    for (int p = 0; p < passes; ++p) {
      std::uint64_t sink = 0;
      const auto t0 = clock_type::now();
      for (std::size_t k = 0; k < json_events.size(); ++k) {
        hits.clear();
        const auto bytes = troupe::rules::json_to_msgpack(json_at(k));
        m.match_msgpack(*bytes, hits);
        sink += hits.size();
      }
      const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
      if (sink != total) {
        std::cerr << set_name << ": JSON pass " << p << " found " << sink << " matches, not " << total << "\n";
        return 1;
      }
      json_eps.push_back(double(json_events.size()) / secs);
    }
    std::sort(json_eps.begin(), json_eps.end());
    const double json_median = json_eps[json_eps.size() / 2];

    // Agreement with event-ruler's counts.
    std::string agreement = "no reference";
    auto ex = expected.find(set_name);
    if (ex != expected.end()) {
      std::vector<std::string> diffs;
      if (total != ex->second.total_matches)
        diffs.push_back("totalMatches " + std::to_string(total) + " vs " + std::to_string(ex->second.total_matches));
      if (matched_events != ex->second.matched_events)
        diffs.push_back("matchedEvents " + std::to_string(matched_events) + " vs " +
                        std::to_string(ex->second.matched_events));
      for (std::size_t k = 0; k < rules.size(); ++k) {
        auto it = ex->second.per_rule.find(rules[k].name);
        if (it != ex->second.per_rule.end() && it->second != per_rule[k])
          diffs.push_back(rules[k].name + " " + std::to_string(per_rule[k]) + " vs " + std::to_string(it->second));
      }
      if (ex->second.has_rules_with_match) {
        const auto with = static_cast<std::uint64_t>(
            std::count_if(per_rule.begin(), per_rule.end(), [](std::uint64_t n) { return n > 0; }));
        if (with != ex->second.rules_with_match)
          diffs.push_back("rules with a match " + std::to_string(with) + " vs " +
                          std::to_string(ex->second.rules_with_match));
      }
      if (diffs.empty()) {
        agreement = "agree (" + std::to_string(total) + " matches";
        agreement += ex->second.per_rule.empty() ? ", " + std::to_string(ex->second.rules_with_match) + " rules hit)"
                                                 : ", " + std::to_string(ex->second.per_rule.size()) + " rules)";
      } else {
        all_agree = false;
        agreement = "DISAGREE:";
        for (const auto& d : diffs)
          agreement += " " + d + ";";
      }
    }
    const double here = ex != expected.end() ? ex->second.eps_median : 0;
    auto pub = published.find(set_name);
    char pub_eps[32] = "-", pub_x[32] = "-";
    if (pub != published.end()) {
      std::snprintf(pub_eps, sizeof pub_eps, "%.0f", pub->second);
      std::snprintf(pub_x, sizeof pub_x, "%.1f", median / pub->second);
      char line[160];
      std::snprintf(line, sizeof line, "%s: %.2fx event-ruler's published %.0f/s (target 5x) %s", set_name.c_str(),
                    median / pub->second, pub->second, median >= 5 * pub->second ? "MET" : "MISSED");
      target_lines.push_back(line);
    }
    std::printf("%-26s %6zu %8.1f %9.2f %11.0f %9.0f %8.0f %11.0f %7.1f %11.0f %7.1f %10s %7s %s\n",
                set_name.c_str(), rules.size(), build_ms, double(total) / events.size(), median, 1e9 / median,
                1e9 / eps.back(), json_median, here > 0 ? json_median / here : 0.0, here, here > 0 ? median / here : 0.0,
                pub_eps, pub_x, agreement.c_str());
    std::fflush(stdout);
    if (set_name == "exact")
      exact_eps = median;
    if (set_name == "many")
      many_eps = median;
    if (set_name == "many-first-5")
      many5_eps = median;
  }

  std::printf("\ntargets (one core):\n");
  if (exact_eps > 0) {
    std::printf("  exact, 5 rules: %.0f events/s (target 1,000,000) %s\n", exact_eps,
                exact_eps >= 1e6 ? "MET" : "MISSED");
  }
  for (const auto& t : target_lines)
    std::printf("  %s\n", t.c_str());
  if (exact_eps > 0 && many_eps > 0) {
    std::printf("  10,000 rules: %.2fx slower than 5 exact rules (target at most 2x) %s\n", exact_eps / many_eps,
                exact_eps / many_eps <= 2 ? "MET" : "MISSED");
  }
  if (many5_eps > 0 && many_eps > 0) {
    std::printf("  10,000 rules: %.2fx slower than their first 5 (same fields and operators; fewer matches)\n",
                many5_eps / many_eps);
  }
  std::printf("peak RSS: %.1f MiB (events held as JSON-converted MessagePack: %.1f MiB)\n", peak_rss_mib(),
              double(buffer.size()) / (1024.0 * 1024.0));
  std::printf("match counts %s event-ruler's\n", all_agree ? "all agree with" : "DO NOT all agree with");
  return all_agree ? 0 : 1;
}
