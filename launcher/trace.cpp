#include "launcher/trace.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <future>
#include <set>
#include <sstream>
#include <vector>

#include "launcher/common.hpp"
#include "wire/envelope.hpp"

namespace troupe::cli {

using json = nlohmann::json;

namespace {

std::string iso_time(std::int64_t ms) {
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

/// A span of milliseconds as people read it: 3 ms, 1.25 s, 4 min 10 s.
std::string span(std::int64_t ms) {
  char buf[48];
  const auto a = std::llabs(ms);
  if (a < 1000)
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ms));
  else if (a < 120000)
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ms) / 1000);
  else if (a < 2 * 3600000)
    std::snprintf(buf, sizeof buf, "%lld min %lld s", static_cast<long long>(ms / 60000),
                  static_cast<long long>(a / 1000 % 60));
  else
    std::snprintf(buf, sizeof buf, "%.1f h", static_cast<double>(ms) / 3600000);
  return buf;
}

json node_report(const fan_out& f) {
  json answered = json::array(), unreachable = json::array();
  for (const auto& [node, _] : f.answers)
    answered.push_back(node);
  for (const auto& [node, why] : f.unreachable)
    unreachable.push_back({{"node", node}, {"error", why}});
  return {{"answered", answered}, {"unreachable", unreachable}};
}

/// The DLQ's letters of these sagas, when the config runs a DLQ: by saga.
std::map<std::string, json> letters_of(const cluster::config& cfg, const std::vector<std::string>& ids,
                                       std::chrono::milliseconds timeout, std::string& problem) {
  std::map<std::string, json> out;
  if (!cfg.node_hosting(cluster::dlq_service) || ids.empty())
    return out;
  for (std::size_t at = 0; at < ids.size(); at += 2000) {
    const std::vector<std::string> chunk(ids.begin() + static_cast<std::ptrdiff_t>(at),
                                         ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + 2000)));
    auto r = query(cfg, cluster::dlq_service, "correlated", {{"ids", chunk}}, timeout);
    if (!r) {
      problem = r.err().message;
      return out;
    }
    if (r->is_array())
      for (auto& row : *r)
        out[row.value("correlation_id", "")] = row;
  }
  return out;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  const auto unit = text.substr(used);
  double ms = 0;
  if (unit == "ms")
    ms = v;
  else if (unit == "s" || unit.empty())
    ms = v * 1000;
  else if (unit == "m" || unit == "min")
    ms = v * 60000;
  else if (unit == "h")
    ms = v * 3600000;
  else if (unit == "d")
    ms = v * 86400000;
  else
    return std::nullopt;
  if (!std::isfinite(ms) || ms < 0 || ms > 365.0 * 86400000)
    return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

fan_out ask_every_node(const cluster::config& cfg, const std::string& what, const json& args,
                       std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::future<result<json>>>> pending;
  for (const auto& n : cfg.nodes)
    pending.emplace_back(n.name, std::async(std::launch::async, [&cfg, &n, what, args, timeout] {
                           return trace(cfg, n, what, args, timeout);
                         }));
  fan_out f;
  for (auto& [node, fut] : pending) {
    auto r = fut.get();
    if (r)
      f.answers[node] = std::move(*r);
    else
      f.unreachable[node] = r.err().message;
  }
  return f;
}

// -- one saga ------------------------------------------------------------------

json collect_saga(const cluster::config& cfg, const std::string& id, std::chrono::milliseconds timeout) {
  const auto f = ask_every_node(cfg, "saga", {{"id", id}}, timeout);
  struct delivery_row {
    json info;
    std::vector<json> attempts;
  };
  std::map<std::string, json> events;  // by id
  std::map<std::tuple<std::string, std::string, std::string>, delivery_row> deliveries;  // (event, rule, node)
  json pending = json::array();
  bool truncated = false;
  std::int64_t now = 0;
  for (const auto& [node, answer] : f.answers) {
    now = std::max<std::int64_t>(now, answer.value("now_ms", std::int64_t{0}));
    truncated = truncated || answer.value("truncated", false);
    for (const auto& r : answer.value("records", json::array())) {
      const auto kind = r.value("kind", "");
      const auto ev = r.value("event", "");
      if (kind == "event") {
        events[ev] = {{"id", ev},
                      {"type", r.value("type", "")},
                      {"source", r.value("source", "")},
                      {"node", node},
                      {"time_ms", r.value("at_ms", std::int64_t{0})},
                      {"causation", r.value("causation", "")},
                      {"seq", r.value("seq", 0)},
                      {"unacked_by", r.value("unacked_by", json::array())}};
        continue;
      }
      auto& d = deliveries[{ev, r.value("rule", ""), node}];
      if (d.info.is_null())
        d.info = {{"event", ev},
                  {"type", r.value("type", "")},
                  {"rule", r.value("rule", "")},
                  {"target", r.value("target", "")},
                  {"node", node}};
      const auto handler_us = r.value("handler_us", std::int64_t{-1});
      json a{{"attempt", r.value("attempt", 0)},
             {"result", kind},
             {"at_ms", r.value("at_ms", std::int64_t{0})},
             {"redrive", r.value("redrive", false)}};
      if (handler_us >= 0)
        a["handler_ms"] = static_cast<double>(handler_us) / 1000;
      if (!r.value("error_code", "").empty()) {
        a["error_code"] = r.value("error_code", "");
        a["error"] = r.value("error", "");
      }
      if (kind == "retry")
        a["due_ms"] = r.value("due_ms", std::int64_t{0});
      d.attempts.push_back(std::move(a));
    }
    for (auto p : answer.value("pending", json::array())) {
      p["node"] = node;
      pending.push_back(std::move(p));
    }
  }
  // Deliveries of events whose origin did not answer still show, under a
  // stand-in for the event.
  for (const auto& [key, d] : deliveries) {
    const auto& ev = std::get<0>(key);
    if (!events.count(ev))
      events[ev] = {{"id", ev}, {"type", d.info.value("type", "")}, {"node", nullptr}, {"time_ms", nullptr},
                    {"causation", ""}, {"known", false}};
  }
  for (const auto& p : pending) {
    const auto ev = p.value("event", "");
    if (!events.count(ev))
      events[ev] = {{"id", ev}, {"type", p.value("type", "")}, {"node", nullptr}, {"time_ms", nullptr},
                    {"causation", ""}, {"known", false}};
  }
  // Each event's deliveries, attempts in order, with how they stand.
  std::map<std::string, json> by_event;
  for (auto& [key, d] : deliveries) {
    std::sort(d.attempts.begin(), d.attempts.end(), [](const json& a, const json& b) {
      return std::make_pair(a.value("at_ms", std::int64_t{0}), a.value("attempt", 0))
             < std::make_pair(b.value("at_ms", std::int64_t{0}), b.value("attempt", 0));
    });
    auto row = d.info;
    const auto last = d.attempts.back().value("result", "");
    row["outcome"] = last == "ok" ? "ok" : last == "retry" ? "retrying" : last;
    row["attempts"] = d.attempts;
    const auto& ev = events[std::get<0>(key)];
    if (ev["time_ms"].is_number())
      for (const auto& a : d.attempts)
        if (a.value("result", "") == "ok") {
          row["latency_ms"] = a.value("at_ms", std::int64_t{0}) - ev["time_ms"].get<std::int64_t>();
          break;
        }
    for (const auto& p : pending)
      if (p.value("event", "") == std::get<0>(key) && p.value("rule", "") == std::get<1>(key)
          && p.value("node", "") == std::get<2>(key)) {
        row["waiting"] = p;
        if (row["outcome"] != "retrying")
          row["outcome"] = "pending";
      }
    by_event[std::get<0>(key)].push_back(std::move(row));
  }
  for (const auto& p : pending) {
    bool shown = false;
    for (const auto& d : by_event[p.value("event", "")])
      shown = shown || (d.value("rule", "") == p.value("rule", "") && d.value("node", "") == p.value("node", ""));
    if (!shown)
      by_event[p.value("event", "")].push_back({{"event", p.value("event", "")},
                                                {"type", p.value("type", "")},
                                                {"rule", p.value("rule", "")},
                                                {"target", p.value("target", "")},
                                                {"node", p.value("node", "")},
                                                {"outcome", "pending"},
                                                {"attempts", json::array()},
                                                {"waiting", p}});
  }
  // The causation tree, depth first, children by time.
  std::map<std::string, std::vector<std::string>> children;
  std::vector<std::string> roots;
  const auto time_of = [&](const std::string& ev) {
    const auto& t = events[ev]["time_ms"];
    return t.is_number() ? t.get<std::int64_t>() : INT64_MAX;
  };
  for (const auto& [ev, e] : events) {
    const auto cause = e.value("causation", "");
    if (!cause.empty() && cause != ev && events.count(cause))
      children[cause].push_back(ev);
    else
      roots.push_back(ev);
  }
  const auto by_time = [&](const std::string& a, const std::string& b) {
    return std::make_pair(time_of(a), a) < std::make_pair(time_of(b), b);
  };
  std::sort(roots.begin(), roots.end(), by_time);
  for (auto& [_, c] : children)
    std::sort(c.begin(), c.end(), by_time);
  json ordered = json::array();
  std::set<std::string> placed;
  std::int64_t start = INT64_MAX, end = 0;
  std::vector<std::pair<std::string, int>> stack;
  for (auto it = roots.rbegin(); it != roots.rend(); ++it)
    stack.emplace_back(*it, 0);
  while (!stack.empty()) {
    auto [ev, depth] = stack.back();
    stack.pop_back();
    if (!placed.insert(ev).second)
      continue;
    auto e = events[ev];
    e["depth"] = depth;
    const auto cause = e.value("causation", "");
    if (events.count(cause) && cause != ev) {
      e["parent"] = cause;
      if (e["time_ms"].is_number() && events[cause]["time_ms"].is_number())
        e["hop_ms"] = e["time_ms"].get<std::int64_t>() - events[cause]["time_ms"].get<std::int64_t>();
    } else if (!cause.empty()) {
      e["outside_cause"] = cause;  // a cause in another saga (an operator's redrive command), or unknown here
    }
    if (e["time_ms"].is_number()) {
      start = std::min(start, e["time_ms"].get<std::int64_t>());
      end = std::max(end, e["time_ms"].get<std::int64_t>());
      e["time"] = iso_time(e["time_ms"].get<std::int64_t>());
    }
    e["deliveries"] = by_event.count(ev) ? by_event[ev] : json::array();
    for (const auto& d : e["deliveries"])
      for (const auto& a : d["attempts"])
        end = std::max(end, a.value("at_ms", std::int64_t{0}));
    ordered.push_back(std::move(e));
    auto it = children.find(ev);
    if (it != children.end())
      for (auto c = it->second.rbegin(); c != it->second.rend(); ++c)
        stack.emplace_back(*c, depth + 1);
  }
  std::set<std::string> terminal(cfg.observability.terminal.begin(), cfg.observability.terminal.end());
  json ended = nullptr;
  for (const auto& e : ordered)
    if (terminal.count(e.value("type", "")) && e.value("known", true))
      ended = e.value("type", "");
  std::string dlq_problem;
  const auto letters = letters_of(cfg, {id}, timeout, dlq_problem);
  json out{{"correlation_id", id},
           {"found", !events.empty()},
           {"nodes", node_report(f)},
           {"now_ms", now},
           {"events", std::move(ordered)},
           {"pending", pending},
           {"dead_letter", letters.count(id) ? letters.at(id) : json(nullptr)},
           {"ended", ended},
           {"truncated", truncated}};
  if (!dlq_problem.empty())
    out["dlq_error"] = dlq_problem;
  if (start != INT64_MAX) {
    out["start_ms"] = start;
    out["end_ms"] = end;
    out["start"] = iso_time(start);
    out["duration_ms"] = end - start;
  }
  return out;
}

std::string render_saga(const json& s) {
  std::ostringstream o;
  const auto id = s.value("correlation_id", "");
  const auto unreachable = s["nodes"].value("unreachable", json::array());
  if (!s.value("found", false)) {
    o << "saga " << id << ": no node that answered knows it\n";
  } else {
    std::size_t deliveries = 0;
    std::set<std::string> nodes;
    for (const auto& e : s["events"]) {
      deliveries += e["deliveries"].size();
      if (e["node"].is_string())
        nodes.insert(e["node"].get<std::string>());
      for (const auto& d : e["deliveries"])
        nodes.insert(d.value("node", ""));
    }
    o << "saga " << id << ": " << s["events"].size() << " events, " << deliveries << " deliveries, on "
      << nodes.size() << " nodes";
    if (s.contains("duration_ms"))
      o << ", from " << s.value("start", "") << " over " << span(s.value("duration_ms", std::int64_t{0}));
    o << "\n";
    if (s["ended"].is_string())
      o << "ended: " << s["ended"].get<std::string>() << "\n";
    else
      o << "not ended: no event of a terminal detail-type (observability.terminal)\n";
  }
  for (const auto& u : unreachable)
    o << "node " << u.value("node", "") << " did not answer (" << u.value("error", "")
      << "): what only it holds is missing\n";
  const auto start = s.value("start_ms", std::int64_t{0});
  for (const auto& e : s["events"]) {
    const int depth = e.value("depth", 0);
    const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    char at[32] = "       ?";
    if (e["time_ms"].is_number())
      std::snprintf(at, sizeof at, "%+8.3f s", static_cast<double>(e["time_ms"].get<std::int64_t>() - start) / 1000);
    o << at << "  " << indent << (depth ? "└ " : "") << e.value("type", "") << "  ";
    if (e["node"].is_string())
      o << "on " << e["node"].get<std::string>();
    else
      o << "(its origin did not answer)";
    if (e.contains("hop_ms"))
      o << ", hop " << span(e["hop_ms"].get<std::int64_t>());
    if (e.contains("outside_cause"))
      o << ", caused by " << e["outside_cause"].get<std::string>() << " outside this saga";
    o << "  [" << e.value("id", "") << "]";
    const auto unacked = e.value("unacked_by", json::array());
    if (!unacked.empty()) {
      o << "  not acked by";
      for (const auto& n : unacked)
        o << " " << n.get<std::string>();
    }
    o << "\n";
    const std::string pad(11 + indent.size() + (depth ? 2 : 0), ' ');
    for (const auto& d : e["deliveries"]) {
      o << pad << "→ " << d.value("rule", "") << " → " << d.value("target", "") << " on " << d.value("node", "")
        << ": " << d.value("outcome", "");
      const auto& attempts = d["attempts"];
      if (!attempts.empty())
        o << " after " << attempts.size() << " attempt" << (attempts.size() == 1 ? "" : "s");
      if (d.contains("latency_ms"))
        o << ", done at +" << span(d["latency_ms"].get<std::int64_t>());
      o << "\n";
      for (const auto& a : attempts) {
        const auto result = a.value("result", "");
        if (result == "ok" && attempts.size() == 1) {
          if (a.contains("handler_ms"))
            o << pad << "    handler " << a["handler_ms"].get<double>() << " ms\n";
          continue;
        }
        o << pad << "    attempt " << a.value("attempt", 0);
        if (a.value("redrive", false))
          o << " (redriven)";
        if (a["at_ms"].is_number() && start)
          o << " ended +" << span(a["at_ms"].get<std::int64_t>() - start);
        o << ": " << result;
        if (a.contains("error_code"))
          o << " " << a.value("error_code", "") << " " << a.value("error", "");
        if (a.contains("due_ms") && start)
          o << ", retry due +" << span(a["due_ms"].get<std::int64_t>() - start);
        o << "\n";
      }
      if (d.contains("waiting")) {
        const auto& w = d["waiting"];
        o << pad << "    waiting in node " << w.value("node", "") << "'s inbox for attempt " << w.value("attempt", 0);
        if (w.value("due_ms", std::int64_t{0}) > 0 && start)
          o << ", due +" << span(w.value("due_ms", std::int64_t{0}) - start);
        o << "\n";
      }
    }
  }
  if (s["dead_letter"].is_object()) {
    const auto& l = s["dead_letter"];
    o << "in the DLQ: letter " << l.value("id", "") << " (" << l.value("ERROR_CODE", "") << ": "
      << l.value("ERROR_MESSAGE", "") << "); `troupe dlq show` it, `troupe dlq redrive` it\n";
  }
  if (s.value("truncated", false))
    o << "(a node cut its records at the limit: the saga is longer than shown)\n";
  return o.str();
}

// -- many sagas ----------------------------------------------------------------

json collect_sagas(const cluster::config& cfg, const sagas_options& o, std::chrono::milliseconds timeout) {
  const auto& terminal = cfg.observability.terminal;
  const auto now = wire::now_ms();
  const std::int64_t since = now - o.since.count();
  // Phase 1: candidates. Stuck: the sagas each node saw go quiet without a
  // terminal event there, and those with work waiting anywhere (an inbox
  // row, an event a consumer has not acked, a dead letter); recent: the
  // newest sagas of each node.
  json first{{"terminal", terminal}, {"since_ms", since}, {"limit", o.stuck ? 5000 : std::max<std::size_t>(o.limit, 1)}};
  if (o.stuck) {
    first["quiet_before_ms"] = now - o.stuck->count();
    first["open_only"] = true;
  }
  auto f = ask_every_node(cfg, "sagas", first, timeout);
  std::set<std::string> candidates;
  bool truncated = false;
  std::map<std::string, std::int64_t> newest;
  for (const auto& [node, a] : f.answers) {
    truncated = truncated || a.value("truncated", false);
    for (const auto& s : a.value("sagas", json::array())) {
      candidates.insert(s.value("id", ""));
      auto& n = newest[s.value("id", "")];
      n = std::max(n, s.value("last_ms", std::int64_t{0}));
    }
    if (o.stuck) {
      for (const auto& [corr, _] : a.value("pending", json::object()).items())
        candidates.insert(corr);
      for (const auto& e : a.value("unacked_events", json::array()))
        candidates.insert(e.value("corr", ""));
    }
  }
  std::string dlq_problem;
  if (o.stuck && cfg.node_hosting(cluster::dlq_service)) {
    std::string after;
    for (int page = 0; page < 10; ++page) {
      auto r = query(cfg, cluster::dlq_service, "list", {{"after", after}, {"limit", 1000}}, timeout);
      if (!r) {
        dlq_problem = r.err().message;
        break;
      }
      for (const auto& l : *r) {
        candidates.insert(l["event"].value("correlation_id", ""));
        after = l.value("id", "");
      }
      if (r->size() < 1000)
        break;
    }
  }
  candidates.erase("");
  std::vector<std::string> ids(candidates.begin(), candidates.end());
  if (!o.stuck && ids.size() > o.limit) {
    std::sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) { return newest[a] > newest[b]; });
    ids.resize(o.limit);
  }
  // Phase 2: every node on every candidate.
  struct merged {
    std::int64_t first_ms = INT64_MAX, last_ms = 0;
    std::int64_t events = 0, attempts = 0, retries = 0, failures = 0;
    bool terminal = false;
    json last;
    json waiting = json::array();
  };
  std::map<std::string, merged> sagas;
  for (const auto& id : ids)
    sagas[id];
  for (std::size_t at = 0; at < ids.size(); at += 2000) {
    const std::vector<std::string> chunk(ids.begin() + static_cast<std::ptrdiff_t>(at),
                                         ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + 2000)));
    auto g = ask_every_node(cfg, "sagas", {{"terminal", terminal}, {"ids", chunk}, {"limit", chunk.size()}}, timeout);
    for (const auto& [node, why] : g.unreachable)
      f.unreachable.emplace(node, why);
    for (const auto& [node, a] : g.answers) {
      for (const auto& s : a.value("sagas", json::array())) {
        auto& m = sagas[s.value("id", "")];
        m.first_ms = std::min(m.first_ms, s.value("first_ms", INT64_MAX));
        m.events += s.value("events", 0);
        m.attempts += s.value("attempts", 0);
        m.retries += s.value("retries", 0);
        m.failures += s.value("failures", 0);
        m.terminal = m.terminal || s.value("terminal", false);
        if (s.value("last_ms", std::int64_t{0}) >= m.last_ms) {
          m.last_ms = s.value("last_ms", std::int64_t{0});
          m.last = s.value("last", json::object());
          m.last["node"] = node;
        }
      }
      for (const auto& [corr, rows] : a.value("pending", json::object()).items()) {
        if (!sagas.count(corr))
          continue;
        for (auto w : rows) {
          const bool held = w.value("due_ms", std::int64_t{0}) > now;
          w["node"] = node;
          w["why"] = held ? "held for a retry" : "in the inbox";
          sagas[corr].waiting.push_back(std::move(w));
        }
      }
      for (auto e : a.value("unacked_events", json::array())) {
        const auto corr = e.value("corr", "");
        if (!sagas.count(corr))
          continue;
        e["origin"] = node;
        json down = json::array();
        for (const auto& n : e.value("unacked_by", json::array()))
          if (f.unreachable.count(n.get<std::string>()))
            down.push_back(n);
        e["why"] = down.empty() ? "not acked yet" : "not acked by a node that does not answer";
        e["down"] = down;
        e.erase("corr");
        sagas[corr].waiting.push_back(std::move(e));
      }
    }
  }
  const auto letters = letters_of(cfg, ids, timeout, dlq_problem);
  json rows = json::array();
  for (auto& [id, m] : sagas) {
    json row{{"id", id},
             {"first_ms", m.first_ms == INT64_MAX ? 0 : m.first_ms},
             {"last_ms", m.last_ms},
             {"events", m.events},
             {"attempts", m.attempts},
             {"retries", m.retries},
             {"failures", m.failures},
             {"ended", m.terminal},
             {"last", m.last},
             {"waiting", m.waiting}};
    if (m.last_ms)
      row["last"]["time"] = iso_time(m.last_ms);
    if (letters.count(id)) {
      auto l = letters.at(id);
      l["why"] = "in the DLQ";
      row["waiting"].push_back(std::move(l));
    }
    if (o.stuck) {
      if (m.last_ms >= now - o.stuck->count())
        continue;  // an event since: not quiet
      if (m.terminal && row["waiting"].empty())
        continue;  // ended, nothing left
      row["quiet_ms"] = now - m.last_ms;
    }
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(),
            [](const json& a, const json& b) { return a.value("last_ms", 0LL) > b.value("last_ms", 0LL); });
  if (rows.size() > o.limit && !o.stuck)
    rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(o.limit), rows.end());
  json out{{"sagas", rows},
           {"nodes", node_report(f)},
           {"terminal", terminal},
           {"examined", ids.size()},
           {"now_ms", now},
           {"truncated", truncated}};
  if (o.stuck)
    out["stuck_ms"] = o.stuck->count();
  if (!dlq_problem.empty())
    out["dlq_error"] = dlq_problem;
  return out;
}

std::string render_sagas(const json& s) {
  std::ostringstream o;
  const bool stuck = s.contains("stuck_ms");
  const auto now = s.value("now_ms", std::int64_t{0});
  if (s.value("terminal", json::array()).empty())
    o << "note: the config declares no terminal detail-types (observability.terminal): no saga counts as ended\n";
  for (const auto& u : s["nodes"].value("unreachable", json::array()))
    o << "node " << u.value("node", "") << " did not answer (" << u.value("error", "") << ")\n";
  if (s.contains("dlq_error"))
    o << "the DLQ did not answer: " << s.value("dlq_error", "") << "\n";
  if (s["sagas"].empty())
    o << (stuck ? "no stuck sagas" : "no sagas") << " (" << s.value("examined", 0) << " examined)\n";
  else if (stuck)
    o << s["sagas"].size() << " stuck saga" << (s["sagas"].size() == 1 ? "" : "s") << ", quiet for more than "
      << span(s.value("stuck_ms", std::int64_t{0})) << ":\n";
  for (const auto& r : s["sagas"]) {
    const auto& last = r["last"];
    o << r.value("id", "") << "  " << (r.value("ended", false) ? "ended" : "open ") << "  last "
      << last.value("type", "?") << " (" << last.value("kind", "") << " on " << last.value("node", "?") << ", "
      << span(now - r.value("last_ms", std::int64_t{0})) << " ago)  " << r.value("events", 0) << " events, "
      << r.value("retries", 0) << " retries, " << r.value("failures", 0) << " failures\n";
    for (const auto& w : r.value("waiting", json::array())) {
      const auto why = w.value("why", "");
      o << "    waits: " << why;
      if (why == "in the DLQ")
        o << " as letter " << w.value("id", "") << " (" << w.value("ERROR_CODE", "") << ": "
          << w.value("ERROR_MESSAGE", "") << ")";
      else if (w.contains("rule"))
        o << ": " << w.value("type", "") << " for " << w.value("target", "") << " (rule " << w.value("rule", "")
          << ") on node " << w.value("node", "") << ", attempt " << w.value("attempt", 0)
          << (w.value("due_ms", std::int64_t{0}) > now ? ", due in " + span(w.value("due_ms", std::int64_t{0}) - now)
                                                        : std::string());
      else {
        o << ": " << w.value("type", "") << " from node " << w.value("origin", "") << ", not acked by";
        for (const auto& n : w.value("unacked_by", json::array()))
          o << " " << n.get<std::string>();
      }
      o << "\n";
    }
    if (stuck && r.value("waiting", json::array()).empty())
      o << "    waits: on nothing that answered"
        << (s["nodes"].value("unreachable", json::array()).empty() ? ": its last event led nowhere"
                                                                   : ": perhaps on a node that did not answer")
        << "\n";
  }
  if (s.value("truncated", false))
    o << "(a node had more sagas than it lists at once: narrow with --since)\n";
  return o.str();
}

}  // namespace troupe::cli
