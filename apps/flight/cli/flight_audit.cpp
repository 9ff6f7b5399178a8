#include "apps/flight/cli/flight_audit.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/runtime/store_read.hpp"
#include "apps/flight/services/audit.hpp"
#include "launcher/common.hpp"
#include "launcher/keys.hpp"
#include "wire/envelope.hpp"

namespace troupe::cli {

namespace {

using json = nlohmann::json;

/// What the audit reads, from wherever it read it: each node's part (its
/// state rows, inbox and outbox backlog) and the Maildir's messages.
struct gathered {
  std::map<std::string, wire::read_page> parts;   // by node
  std::map<std::string, std::string> unreadable;  // node → why its store cannot be read (a violation)
  std::vector<unreachable_node> unreachable;      // nodes that did not answer, or refused
  std::vector<flight::mail_file> mails;
  std::optional<std::string> mail_problem;        // the Maildir cannot be read (a violation)
};

// -- offline: the stores and the Maildir on this machine's disk ----------------------

std::filesystem::path maildir_of(const cluster::config& cfg) {
  auto settings = cfg.settings_of("notification");
  if (settings.IsMap() && settings["maildir"] && settings["maildir"].IsScalar()) {
    std::filesystem::path p = settings["maildir"].Scalar();
    return (p.is_absolute() ? p : cfg.dir / p).lexically_normal();
  }
  const auto* node = cfg.node_hosting("notification");
  return node ? (node->data_dir / "maildir").lexically_normal() : std::filesystem::path();
}

std::string cannot_read_maildir(const std::string& root, const std::string& why) {
  return "cannot read the Maildir " + root + ": " + why;
}

gathered read_offline(const cluster::config& cfg) {
  gathered g;
  const auto now = wire::now_ms();
  const auto age_of = [&cfg](const std::string& stream) { return cfg.event_age_of(stream); };
  for (const auto& n : cfg.nodes) {
    const auto path = (n.data_dir / "node.db").string();
    if (!std::filesystem::exists(path)) {
      g.unreadable[n.name] = "node " + n.name + " has no store at " + path;
      continue;
    }
    auto db = store::database::open_read_only(path);
    auto part = db ? runtime::read_whole_store(*db, now, age_of) : result<wire::read_page>(db.err());
    if (!part)
      g.unreadable[n.name] = "node " + n.name + ": " + part.err().message;
    else
      g.parts[n.name] = std::move(*part);
  }
  const auto maildir = maildir_of(cfg);
  if (!maildir.empty() && std::filesystem::exists(maildir)) {
    auto m = flight::read_mail_files(maildir);
    if (!m)
      g.mail_problem = cannot_read_maildir(maildir.string(), m.err().message);
    else
      g.mails = std::move(*m);
  }
  return g;
}

// -- online: each node's part asked of it, over its control socket --------------------

/// Every page of `node`'s store, one request at a time, each within
/// `timeout`.
result<wire::read_page> read_node(const cluster::config& cfg, const cluster::node_spec& node,
                                  const audit_options& opts) {
  auto c = connect(cfg, node, cluster::reader);
  if (!c)
    return c.err();
  wire::control_request req;
  req.verb = "read";
  req.limit = opts.page_rows;
  wire::read_page whole;
  for (;;) {
    auto rep = (*c)->call(req, opts.node_timeout);
    if (!rep)
      return rep.err();
    if (!rep->ok)
      return error{errc::refused, rep->body};
    auto& page = rep->page;
    // Each page must move on, or a wrong node would keep this loop going.
    if (page.next && (page.rows.empty() || !(page.rows.back().at == *page.next)))
      return error{errc::bad_answer, "a page whose next row is not its last"};
    std::move(page.rows.begin(), page.rows.end(), std::back_inserter(whole.rows));
    whole.inbox = page.inbox;
    whole.outbox = std::move(page.outbox);
    if (!page.next)
      return whole;
    req.after = std::move(page.next);
  }
}

/// The notification service's Maildir, a page at a time: the messages, or
/// the service's reason why it cannot read them (`problem`).
result<std::vector<flight::mail_file>> read_mails(const cluster::config& cfg, const audit_options& opts,
                                                  std::optional<std::string>& problem) {
  std::vector<flight::mail_file> mails;
  json args{{"after", ""}, {"limit", opts.page_rows}};
  for (;;) {
    auto page = query(cfg, "notification", "mails", args, opts.node_timeout);
    if (!page)
      return page.err();
    if (page->contains("error")) {
      const auto& why = (*page)["error"];
      problem = cannot_read_maildir(page->value("maildir", "?"), why.is_string() ? why.get<std::string>() : why.dump());
      return mails;
    }
    if (!page->contains("mails") || !(*page)["mails"].is_array())
      return error{errc::bad_answer, "the answer to mails has no mails"};
    for (const auto& m : (*page)["mails"]) {
      auto file = flight::mail_file_of(m);
      if (!file)
        return error{errc::bad_answer, "a mail that is not {booking_id, kind, key, path}: " + m.dump()};
      mails.push_back(std::move(*file));
    }
    const auto next = page->value("next", json());
    if (!next.is_string())
      return mails;
    if (next.get<std::string>() <= args["after"].get<std::string>())
      return error{errc::bad_answer, "a page of mails that does not move on"};
    args["after"] = next;
  }
}

std::string why_unreachable(const error& e) {
  // A node's refusal says it in its own words; a failure here says what failed.
  return e.code == errc::refused ? e.message : e.to_string();
}

gathered read_online(const cluster::config& cfg, const audit_options& opts) {
  gathered g;
  // Every node at once, so that the nodes that do not answer cost one
  // timeout in all, not one each.
  std::vector<std::future<result<wire::read_page>>> parts;
  for (const auto& n : cfg.nodes)
    parts.push_back(std::async(std::launch::async, [&cfg, &n, &opts] { return read_node(cfg, n, opts); }));
  const auto* mail_node = cfg.node_hosting("notification");
  std::optional<std::string> mail_problem;
  std::future<result<std::vector<flight::mail_file>>> mails;
  if (mail_node)
    mails = std::async(std::launch::async, [&] { return read_mails(cfg, opts, mail_problem); });
  for (std::size_t i = 0; i < cfg.nodes.size(); ++i) {
    auto part = parts[i].get();
    if (part)
      g.parts[cfg.nodes[i].name] = std::move(*part);
    else
      g.unreachable.push_back({cfg.nodes[i].name, why_unreachable(part.err())});
  }
  if (mail_node) {
    auto m = mails.get();
    g.mail_problem = std::move(mail_problem);
    if (m) {
      g.mails = std::move(*m);
    } else {
      const auto why = "the Maildir's messages: " + why_unreachable(m.err());
      auto known = std::find_if(g.unreachable.begin(), g.unreachable.end(),
                                [&](const unreachable_node& u) { return u.node == mail_node->name; });
      if (known == g.unreachable.end())
        g.unreachable.push_back({mail_node->name, why});
    }
  }
  return g;
}

// -- the parts together ------------------------------------------------------------------

/// The records of the DLQs, as the nodes running `dlq` stored them.
struct dead_letters {
  std::size_t count = 0;
  std::map<std::string, std::size_t> by_error_code;
  std::set<std::string> correlation_ids;  // of the original events

  void add(const json& record) {
    ++count;
    const auto code = record.is_object() ? record.value("ERROR_CODE", json()) : json();
    ++by_error_code[code.is_string() ? code.get<std::string>() : "?"];
    if (record.is_object() && record.contains("event") && record["event"].is_object()) {
      const auto corr = record["event"].value("correlation_id", json());
      if (corr.is_string() && !corr.get<std::string>().empty())
        correlation_ids.insert(corr.get<std::string>());
    }
  }
};

struct findings {
  flight::audit_report report;
  nlohmann::json nodes;
  dead_letters letters;
  std::vector<std::string> dead_lettered;  // bookings parked in a DLQ, sorted
  std::vector<unreachable_node> unreachable;
  bool complete() const { return unreachable.empty(); }
};

/// The audit of what was gathered: the same however it was read.
findings judge(const cluster::config& cfg, const audit_options& opts, gathered g) {
  flight::stored_rows rows;
  dead_letters letters;
  std::vector<std::string> runtime_violations;
  json nodes = json::object();
  for (const auto& n : cfg.nodes) {
    if (auto why = g.unreadable.find(n.name); why != g.unreadable.end())
      runtime_violations.push_back(why->second);
    auto it = g.parts.find(n.name);
    if (it == g.parts.end())
      continue;
    const auto& part = it->second;
    const bool runs_dlq =
        std::find(n.services.begin(), n.services.end(), cluster::dlq_service) != n.services.end();
    for (const auto& row : part.rows) {
      auto value = json::parse(row.value, nullptr, false);
      if (runs_dlq && row.at.service == cluster::dlq_service && row.at.table == "letters")
        letters.add(value);
      rows.add(row.at.service, row.at.table, row.at.key, std::move(value));
    }
    std::uint64_t outbox = 0, expired = 0;
    for (const auto& b : part.outbox) {
      outbox += b.unacked;
      expired += b.expired;
    }
    if (expired)
      runtime_violations.push_back("node " + n.name + ": " + std::to_string(expired)
                                   + " events not acked by every consumer within the maximum event age");
    if (part.inbox && !opts.allow_in_flight)
      runtime_violations.push_back("node " + n.name + ": " + std::to_string(part.inbox)
                                   + " deliveries still in the inbox");
    nodes[n.name] = {{"inbox", part.inbox}, {"outbox_unacked", outbox}};
  }
  if (g.mail_problem)
    runtime_violations.push_back(*g.mail_problem);
  // A PENDING booking whose event waits in a DLQ is DEAD_LETTERED: nothing
  // moves it on until an operator redrives it, and it is not lost.
  auto report = flight::audit(rows, g.mails, !opts.allow_in_flight, letters.correlation_ids);
  std::vector<std::string> parked;
  for (const auto& [id, booking] : rows.table("booking", "bookings"))
    if (letters.correlation_ids.count(id) && booking.value("state", "") == "PENDING")
      parked.push_back(id);
  for (auto& v : runtime_violations)
    report.violations.push_back(std::move(v));
  return {std::move(report), std::move(nodes), std::move(letters), std::move(parked), std::move(g.unreachable)};
}

findings collect(const cluster::config& cfg, const audit_options& opts) {
  return judge(cfg, opts, opts.offline ? read_offline(cfg) : read_online(cfg, opts));
}

void print_table(findings& f) {
  auto& report = f.report;
  std::printf("bookings: %zu confirmed, %zu cancelled, %zu pending, %zu dead-lettered\n",
              report.bookings_by_state["CONFIRMED"], report.bookings_by_state["CANCELLED"],
              report.bookings_by_state["PENDING"], report.bookings_by_state["DEAD_LETTERED"]);
  for (const auto& [reason, count] : report.cancelled_by_reason)
    std::printf("  cancelled: %-40s %zu\n", reason.c_str(), count);
  std::printf("payments: %zu charged, %zu refunded, %zu declined; seats %zu; tickets %zu; emails %zu\n",
              report.payments_by_state["CHARGED"], report.payments_by_state["REFUNDED"],
              report.payments_by_state["DECLINED"], report.seats_assigned, report.tickets, report.emails);
  std::printf("dead letters: %zu", f.letters.count);
  const char* sep = " (";
  for (const auto& [code, count] : f.letters.by_error_code) {
    std::printf("%s%s %zu", sep, code.c_str(), count);
    sep = ", ";
  }
  std::printf("%s\n", f.letters.count ? ")" : "");
  for (const auto& [name, n] : f.nodes.items())
    std::printf("node %-14s inbox %zu, outbox unacked %zu\n", name.c_str(), n["inbox"].get<std::size_t>(),
                n["outbox_unacked"].get<std::size_t>());
  for (const auto& u : f.unreachable)
    std::printf("UNREACHABLE: node %s: %s\n", u.node.c_str(), u.error.c_str());
  for (const auto& v : report.violations)
    std::printf("VIOLATION: %s\n", v.c_str());
  const auto n = report.violations.size();
  if (!f.complete()) {
    std::string names;
    for (const auto& u : f.unreachable)
      names += (names.empty() ? "" : ", ") + u.node;
    std::printf("audit INCOMPLETE: %zu node%s not read (%s); %zu violation%s in what was read\n",
                f.unreachable.size(), f.unreachable.size() == 1 ? "" : "s", names.c_str(), n, n == 1 ? "" : "s");
  } else {
    std::printf("%s: %zu violation%s\n", report.ok() ? "audit passed" : "audit FAILED", n, n == 1 ? "" : "s");
  }
}

} // namespace

int audit(const cluster::config& cfg, const audit_options& opts) {
  // A running cluster may still be finishing sagas, or a node restarting:
  // look again until every node answered and agrees with every invariant,
  // or the wait is over.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(opts.wait_s * 1000));
  auto f = collect(cfg, opts);
  while (!(f.report.ok() && f.complete()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f = collect(cfg, opts);
  }
  auto& report = f.report;
  if (opts.json) {
    auto j = report.to_json();
    j["ok"] = report.ok() && f.complete();
    j["complete"] = f.complete();
    j["unreachable"] = json::array();
    for (const auto& u : f.unreachable)
      j["unreachable"].push_back({{"node", u.node}, {"error", u.error}});
    j["nodes"] = f.nodes;
    j["dead_letters"] = f.letters.count;
    j["dead_letters_by_error_code"] = f.letters.by_error_code;
    j["dead_lettered"] = f.dead_lettered;
    std::printf("%s\n", j.dump().c_str());
  } else {
    print_table(f);
  }
  if (!f.complete())
    return audit_incomplete;
  return report.ok() ? 0 : audit_violations;
}

} // namespace troupe::cli
