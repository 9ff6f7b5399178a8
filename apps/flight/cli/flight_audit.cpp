#include "apps/flight/cli/flight_audit.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "apps/flight/services/audit.hpp"
#include "store/node_store.hpp"
#include "wire/envelope.hpp"

namespace troupe::cli {

namespace {

using json = nlohmann::json;


std::filesystem::path maildir_of(const cluster::config& cfg) {
  auto settings = cfg.settings_of("notification");
  if (settings.IsMap() && settings["maildir"] && settings["maildir"].IsScalar()) {
    std::filesystem::path p = settings["maildir"].Scalar();
    return p.is_absolute() ? p : cfg.dir / p;
  }
  const auto* node = cfg.node_hosting("notification");
  return node ? node->data_dir / "maildir" : std::filesystem::path();
}

// Runs `sql` and hands each row to `fn`.
result<void> each_row(store::database& db, const char* sql, const std::function<void(store::statement&)>& fn) {
  auto s = db.prepare(sql);
  if (!s)
    return s.err();
  for (;;) {
    auto row = s->step();
    if (!row)
      return row.err();
    if (!*row)
      return {};
    fn(*s);
  }
}

} // namespace

namespace {

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
};

findings collect(const cluster::config& cfg, const audit_options& opts) {
  flight::stored_rows rows;
  dead_letters letters;
  std::vector<std::string> runtime_violations;
  json nodes = json::object();
  const auto now = wire::now_ms();
  for (const auto& n : cfg.nodes) {
    const auto path = (n.data_dir / "node.db").string();
    if (!std::filesystem::exists(path)) {
      runtime_violations.push_back("node " + n.name + " has no store at " + path);
      continue;
    }
    auto db = store::open_read_only(path);
    if (!db) {
      runtime_violations.push_back("node " + n.name + ": " + db.err().message);
      continue;
    }
    const bool runs_dlq =
        std::find(n.services.begin(), n.services.end(), cluster::dlq_service) != n.services.end();
    std::size_t inbox = 0, outbox = 0, expired = 0;
    auto r = each_row(*db, "SELECT service, tbl, key, value FROM state", [&](store::statement& s) {
      auto value = json::parse(s.text(3), nullptr, false);
      const auto service = s.text(0), table = s.text(1);
      if (runs_dlq && service == cluster::dlq_service && table == "letters")
        letters.add(value);
      rows.add(service, table, s.text(2), std::move(value));
    });
    if (r)
      r = each_row(*db, "SELECT count(*) FROM inbox", [&](store::statement& s) { inbox = s.int64(0); });
    if (r)
      r = each_row(*db, "SELECT stream, time_ms FROM outbox", [&](store::statement& s) {
        ++outbox;
        if (now - s.int64(1) > cfg.event_age_of(s.text(0)).count())
          ++expired;
      });
    if (!r) {
      runtime_violations.push_back("node " + n.name + ": " + r.err().message);
      continue;
    }
    if (expired)
      runtime_violations.push_back("node " + n.name + ": " + std::to_string(expired)
                                   + " events not acked by every consumer within the maximum event age");
    if (inbox && !opts.allow_in_flight)
      runtime_violations.push_back("node " + n.name + ": " + std::to_string(inbox)
                                   + " deliveries still in the inbox");
    nodes[n.name] = {{"inbox", inbox}, {"outbox_unacked", outbox}};
  }
  std::vector<flight::mail_file> mails;
  const auto maildir = maildir_of(cfg);
  if (!maildir.empty() && std::filesystem::exists(maildir)) {
    auto m = flight::read_mail_files(maildir);
    if (!m)
      runtime_violations.push_back("cannot read the Maildir " + maildir.string() + ": " + m.err().message);
    else
      mails = std::move(*m);
  }
  // A PENDING booking whose event waits in a DLQ is DEAD_LETTERED: nothing
  // moves it on until an operator redrives it, and it is not lost.
  auto report = flight::audit(rows, mails, !opts.allow_in_flight, letters.correlation_ids);
  std::vector<std::string> parked;
  for (const auto& [id, booking] : rows.table("booking", "bookings"))
    if (letters.correlation_ids.count(id) && booking.value("state", "") == "PENDING")
      parked.push_back(id);
  for (auto& v : runtime_violations)
    report.violations.push_back(std::move(v));
  return {std::move(report), std::move(nodes), std::move(letters), std::move(parked)};
}

} // namespace

int audit(const cluster::config& cfg, const audit_options& opts) {
  // A running cluster may still be finishing sagas: look again until the
  // stores agree with every invariant or the wait is over.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(opts.wait_s * 1000));
  auto f = collect(cfg, opts);
  while (!f.report.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f = collect(cfg, opts);
  }
  auto& report = f.report;
  const auto& nodes = f.nodes;
  auto j = report.to_json();
  j["ok"] = report.ok();
  j["nodes"] = nodes;
  j["dead_letters"] = f.letters.count;
  j["dead_letters_by_error_code"] = f.letters.by_error_code;
  j["dead_lettered"] = f.dead_lettered;
  if (opts.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
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
    for (const auto& [name, n] : nodes.items())
      std::printf("node %-14s inbox %zu, outbox unacked %zu\n", name.c_str(), n["inbox"].get<std::size_t>(),
                  n["outbox_unacked"].get<std::size_t>());
    for (const auto& v : report.violations)
      std::printf("VIOLATION: %s\n", v.c_str());
    std::printf("%s: %zu violation%s\n", report.ok() ? "audit passed" : "audit FAILED", report.violations.size(),
                report.violations.size() == 1 ? "" : "s");
  }
  return report.ok() ? 0 : 1;
}

} // namespace troupe::cli
