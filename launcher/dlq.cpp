#include "launcher/dlq.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "launcher/keys.hpp"
#include "wire/client.hpp"
#include "wire/envelope.hpp"

namespace troupe::cli {

namespace {

using json = nlohmann::json;
constexpr auto request_timeout = std::chrono::seconds(10);
constexpr auto settle_timeout = std::chrono::seconds(15);

constexpr std::size_t page = 1000;          // records per query (the DLQ's largest page)
constexpr std::size_t ids_per_command = 2000;  // about 80 KB of ids per command event

/// Every record the filters select, oldest first, read a page at a time.
result<json> list(const cluster::config& cfg, const dlq_options& opts) {
  json all = json::array();
  std::string after;
  for (;;) {
    auto rows = query(cfg, opts.dlq, "list",
                      {{"rule", opts.rule}, {"target", opts.target}, {"error_code", opts.error_code},
                       {"after", after}, {"limit", page}},
                      request_timeout);
    if (!rows)
      return rows.err();
    if (!rows->is_array())
      return error{errc::bad_answer, "the DLQ answered with something other than a list"};
    for (auto& r : *rows)
      all.push_back(std::move(r));
    if (rows->size() < page)
      return all;
    after = all.back().value("id", "");
  }
}

std::string when(const json& r, const char* field) {
  const auto ms = r.value(field, std::int64_t{0});
  return ms ? wire::format_time(ms) : "-";
}

std::string clip(std::string s, std::size_t n) {
  if (s.size() > n)
    s = s.substr(0, n - 3) + "...";
  return s;
}

/// Why the record cannot be redriven now, or empty.
std::string unredrivable(const cluster::config& cfg, const json& r) {
  const auto rule = r.value("RULE_ARN", "");
  const auto target = r.value("TARGET_ARN", "");
  auto it = std::find_if(cfg.rules.begin(), cfg.rules.end(), [&](const auto& x) { return x.name == rule; });
  if (it == cfg.rules.end())
    return "rule '" + rule + "' no longer exists in " + cfg.file;
  if (it->target != target)
    return "target '" + target + "' no longer exists: rule '" + rule + "' now targets '" + it->target + "'";
  if (!cfg.node_hosting(target))
    return "target '" + target + "' no longer exists: no node runs it";
  return {};
}

} // namespace

int dlq_list(const cluster::config& cfg, const dlq_options& opts) {
  auto rows = list(cfg, opts);
  if (!rows) {
    std::fprintf(stderr, "troupe: cannot read the DLQ: %s\n", rows.err().message.c_str());
    return 1;
  }
  if (opts.json) {
    for (const auto& r : *rows)
      std::printf("%s\n", r.dump().c_str());
    return 0;
  }
  std::printf("%-36s  %-20s  %-12s  %-15s  %-24s  %7s  %-20s  %s\n", "ID", "RULE", "TARGET", "ERROR_CODE",
              "EXHAUSTED_RETRY_COND", "RETRIES", "LAST_ATTEMPT", "EVENT");
  for (const auto& r : *rows) {
    const auto ev = r.value("event", json::object());
    std::printf("%-36s  %-20s  %-12s  %-15s  %-24s  %7d  %-20s  %s %s\n", r.value("id", "").c_str(),
                clip(r.value("RULE_ARN", ""), 20).c_str(), clip(r.value("TARGET_ARN", ""), 12).c_str(),
                r.value("ERROR_CODE", "").c_str(), r.value("EXHAUSTED_RETRY_CONDITION", "").c_str(),
                r.value("RETRY_ATTEMPTS", 0), when(r, "LAST_ATTEMPT_MS").c_str(),
                ev.value("detail-type", "").c_str(), ev.value("id", "").c_str());
  }
  std::printf("%zu dead letter%s\n", rows->size(), rows->size() == 1 ? "" : "s");
  return 0;
}

int dlq_show(const cluster::config& cfg, const dlq_options& opts) {
  int rc = 0;
  for (const auto& id : opts.ids) {
    auto r = query(cfg, opts.dlq, "show", {{"id", id}}, request_timeout);
    if (!r) {
      std::fprintf(stderr, "troupe: cannot read the DLQ: %s\n", r.err().message.c_str());
      return 1;
    }
    if (r->is_null()) {
      std::fprintf(stderr, "troupe: no dead letter %s in the DLQ\n", id.c_str());
      rc = 1;
      continue;
    }
    if (opts.json) {
      std::printf("%s\n", r->dump().c_str());
      continue;
    }
    std::printf("ID                         %s\n", id.c_str());
    for (const char* k : {"RULE_ARN", "TARGET_ARN", "NODE", "ERROR_CODE", "ERROR_MESSAGE",
                          "EXHAUSTED_RETRY_CONDITION"})
      std::printf("%-26s %s\n", k, r->value(k, "").c_str());
    std::printf("%-26s %d\n", "RETRY_ATTEMPTS", r->value("RETRY_ATTEMPTS", 0));
    std::printf("%-26s %s\n", "FIRST_ATTEMPT", when(*r, "FIRST_ATTEMPT_MS").c_str());
    std::printf("%-26s %s\n", "LAST_ATTEMPT", when(*r, "LAST_ATTEMPT_MS").c_str());
    std::printf("%-26s %s\n", "RECEIVED", when(*r, "RECEIVED_MS").c_str());
    std::printf("event:\n%s\n", r->value("event", json::object()).dump(2).c_str());
  }
  return rc;
}

namespace {

/// The records `opts` selects from `by_id`, every one checked before
/// anything is sent; nullopt after adding each problem to `problems`.
std::optional<std::vector<std::string>> selected(const cluster::config& cfg, const dlq_options& opts, bool purge,
                                                 std::map<std::string, json>& by_id,
                                                 std::vector<std::string>& problems) {
  std::vector<std::string> ids;
  if (opts.all) {
    for (const auto& [id, r] : by_id)
      ids.push_back(id);
  } else {
    for (const auto& id : opts.ids) {
      if (!by_id.count(id))
        problems.push_back("no dead letter " + id + " in the DLQ"
                           + (opts.rule.empty() && opts.target.empty() && opts.error_code.empty()
                                  ? std::string()
                                  : std::string(" that the filters select")));
      else
        ids.push_back(id);
    }
  }
  if (!purge)
    for (const auto& id : ids)
      if (auto why = unredrivable(cfg, by_id[id]); !why.empty())
        problems.push_back("dead letter " + id + ": " + why);
  if (problems.empty())
    return ids;
  problems.push_back(std::string("nothing was ") + (purge ? "purged" : "redriven"));
  return std::nullopt;
}

/// Sends one command event per chunk of `ids` to the DLQ's node, all in
/// one PutEvents call when they fit; why not, or empty.
std::string send_commands(const cluster::config& cfg, const cluster::node_spec& node, const dlq_options& opts,
                          const std::vector<std::string>& ids, bool purge) {
  auto c = connect(cfg, node, cluster::operator_);
  if (!c)
    return c.err().message;
  for (std::size_t from = 0; from < ids.size();) {
    wire::control_request req;
    req.verb = "put";
    for (; from < ids.size() && req.entries.size() < wire::max_put_entries; from += ids_per_command) {
      const auto to = std::min(ids.size(), from + ids_per_command);
      std::string detail;
      json::to_msgpack(json{{"dead-letter-queue", opts.dlq},
                            {"ids", std::vector<std::string>(ids.begin() + from, ids.begin() + to)}},
                       detail);
      req.entries.push_back({cluster::dlq_command_source,
                             purge ? "DeadLetterPurgeRequested" : "DeadLetterRedriveRequested", std::move(detail),
                             "", {}, {}});
    }
    auto rep = (*c)->call(req, request_timeout);
    std::string why = !rep ? rep.err().message : !rep->ok ? rep->body : "";
    if (rep && rep->ok && rep->results.size() != req.entries.size())
      why = "an answer for " + std::to_string(rep->results.size()) + " of " + std::to_string(req.entries.size())
            + " commands";
    for (std::size_t i = 0; why.empty() && rep && i < rep->results.size(); ++i)
      if (!rep->results[i].ok())
        why = rep->results[i].error();
    if (!why.empty())
      return "the DLQ on node " + node.name + " did not take the " + (purge ? "purge" : "redrive") + ": " + why;
  }
  return {};
}

/// Waits until none of `ids` is in the DLQ any more, or settle_timeout
/// passed; how many still are.
std::size_t wait_until_gone(const cluster::config& cfg, const dlq_options& opts, const std::vector<std::string>& ids) {
  const std::set<std::string> wanted(ids.begin(), ids.end());
  const auto deadline = std::chrono::steady_clock::now() + settle_timeout;
  std::size_t left = wanted.size();
  dlq_options all = opts;
  all.rule = all.target = all.error_code = "";
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto now = list(cfg, all)) {
      left = 0;
      for (const auto& r : *now)
        left += wanted.count(r.value("id", ""));
      if (left == 0)
        break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return left;
}

} // namespace

dlq_move_outcome dlq_move_records(const cluster::config& cfg, const dlq_options& opts, bool purge) {
  dlq_move_outcome out;
  const auto* node = cfg.node_hosting(opts.dlq);
  if (!node) {
    out.code = 2;
    out.problems.push_back("no node runs the DLQ service '" + opts.dlq + "'");
    return out;
  }
  auto rows = list(cfg, opts);
  if (!rows) {
    out.code = 1;
    out.problems.push_back("cannot read the DLQ: " + rows.err().message);
    return out;
  }
  std::map<std::string, json> by_id;
  for (auto& r : *rows)
    by_id[r.value("id", "")] = r;
  const auto ids = selected(cfg, opts, purge, by_id, out.problems);
  if (!ids) {
    out.code = 1;
    return out;
  }
  if (ids->empty())
    return out;
  if (auto why = send_commands(cfg, *node, opts, *ids, purge); !why.empty()) {
    out.code = 1;
    out.problems.push_back(std::move(why));
    return out;
  }
  out.moved = *ids;
  // The command is durable on the DLQ's node; wait until it has been done.
  out.left = wait_until_gone(cfg, opts, *ids);
  if (out.left > 0) {
    out.code = 1;
    out.problems.push_back(std::string("the ") + (purge ? "purge" : "redrive") + " is recorded, but "
                           + std::to_string(out.left) + " of them are still in the DLQ after "
                           + std::to_string(settle_timeout.count()) + " s");
  }
  return out;
}

int dlq_move(const cluster::config& cfg, const dlq_options& opts, bool purge) {
  const auto out = dlq_move_records(cfg, opts, purge);
  if (out.moved.empty() && out.code == 0 && !opts.json)  // JSON lines: none
    std::printf("no dead letters to %s\n", purge ? "purge" : "redrive");
  if (!out.moved.empty()) {
    if (opts.json) {
      for (const auto& id : out.moved)
        std::printf("%s\n", json{{"id", id}, {purge ? "purged" : "redriven", true}}.dump().c_str());
    } else {
      std::printf("%s %zu dead letter%s\n", purge ? "purged" : "redriven", out.moved.size(),
                  out.moved.size() == 1 ? "" : "s");
    }
    std::fflush(stdout);
  }
  for (const auto& p : out.problems)
    std::fprintf(stderr, "troupe: %s\n", p.c_str());
  return out.code;
}

} // namespace troupe::cli
