#include "apps/flight/cli/flight_client.hpp"

#include <optional>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
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
using clock_type = std::chrono::steady_clock;

constexpr auto request_timeout = std::chrono::seconds(10);

std::vector<std::string> flights_of(const cluster::config& cfg) {
  std::vector<std::string> out;
  auto flights = cfg.settings_of("seat")["flights"];
  if (flights && flights.IsMap())
    for (const auto& kv : flights)
      out.push_back(kv.first.Scalar());
  if (out.empty())
    out.push_back("TR100");
  return out;
}

// A mix that exercises every path of the saga: mostly good cards, some
// declined, some over their limit, some not even card numbers. The demo
// config's gateway declines 4000000000000002 and limits cards to 10,000.
json generated(std::mt19937_64& rng, const std::vector<std::string>& flights, int i) {
  static const char* names[] = {"Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra",
                                "Barbara Liskov", "Leslie Lamport", "Margaret Hamilton", "Ken Thompson"};
  static const char* seats[] = {"window", "aisle", "any"};
  std::uniform_int_distribution<int> pct(0, 99);
  std::uniform_int_distribution<int> cents(5000, 90000);
  const auto name = std::string(names[i % 8]);
  std::string email = name;
  std::replace(email.begin(), email.end(), ' ', '.');
  std::transform(email.begin(), email.end(), email.begin(), [](unsigned char c) { return std::tolower(c); });
  email += "+" + std::to_string(i) + "@example.com";
  const int p = pct(rng);
  std::string card = "4111111111111111";
  double amount = cents(rng) / 100.0;
  if (p < 5)
    card = "4000000000000002";  // declined
  else if (p < 10)
    amount = 25000;  // over the limit
  else if (p < 12)
    card = "4111111111111112";  // fails the Luhn check
  return json{{"customer", name},
              {"email", email},
              {"flight", flights[static_cast<std::size_t>(i) % flights.size()]},
              {"seat_preference", seats[pct(rng) % 3]},
              {"amount", amount},
              {"card", card}};
}

std::string to_msgpack(const json& j) {
  std::string out;
  json::to_msgpack(j, out);
  return out;
}

std::string str_or(const json& row, const char* key, const char* fallback = "-") {
  auto it = row.find(key);
  if (it == row.end() || it->is_null())
    return fallback;
  if (it->is_string())
    return it->get<std::string>();
  return it->dump();
}

void progress(std::size_t done, std::size_t total, std::size_t confirmed, std::size_t cancelled) {
  constexpr int width = 30;
  const int filled = total ? static_cast<int>(width * done / total) : width;
  std::fprintf(stderr, "\r[%s%s] %zu/%zu  confirmed %zu  cancelled %zu", std::string(filled, '#').c_str(),
               std::string(width - filled, '.').c_str(), done, total, confirmed, cancelled);
  std::fflush(stderr);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::ceil(p / 100.0 * v.size())) - 1;
  return v[std::min(idx, v.size() - 1)];
}

} // namespace

namespace {

/// How `troupe book` reaches a node that may be restarting or paused: each
/// attempt waits about a second for its reply, on a fresh socket (a late
/// reply to an earlier attempt is never taken for this one), and attempts
/// are spaced by exponential backoff with full jitter, until `deadline`.
constexpr auto attempt_timeout = std::chrono::milliseconds(1200);
constexpr auto backoff_base = std::chrono::milliseconds(50);
constexpr auto backoff_cap = std::chrono::milliseconds(1000);

template <class Attempt>
auto with_retries(Attempt attempt, clock_type::time_point deadline, std::mt19937_64& rng) -> decltype(attempt()) {
  for (int n = 0;; ++n) {
    auto r = attempt();
    if (r || !r.err().retryable() || clock_type::now() >= deadline)
      return r;
    std::this_thread::sleep_for(cluster::full_jitter(backoff_base, backoff_cap, n, rng));
  }
}

/// One PutEvents call, tried until it is answered or `deadline` passes. Safe
/// to repeat because every entry carries an idempotency key.
result<wire::control_reply> put(const cluster::config& cfg, const cluster::node_spec& node,
                                const wire::control_request& req, clock_type::time_point deadline,
                                std::mt19937_64& rng) {
  return with_retries(
      [&]() -> result<wire::control_reply> {
        auto c = connect(cfg, node, cluster::producer);
        if (!c)
          return c.err();
        return (*c)->call(req, attempt_timeout);
      },
      deadline, rng);
}

/// A query, tried until it is answered or `deadline` passes.
result<json> query_retrying(const cluster::config& cfg, const std::string& service, const std::string& what,
                            const json& args, clock_type::time_point deadline, std::mt19937_64& rng) {
  return with_retries([&] { return query(cfg, service, what, args, attempt_timeout); }, deadline, rng);
}

/// The DLQs that the config's rules send dead letters to.
std::set<std::string> dead_letter_queues(const cluster::config& cfg) {
  std::set<std::string> out;
  for (const auto& r : cfg.rules)
    if (!r.dead_letter_queue.empty() && cfg.node_hosting(r.dead_letter_queue))
      out.insert(r.dead_letter_queue);
  return out;
}

} // namespace

namespace {

/// What `book` shares between its steps.
struct booking_run {
  const cluster::config& cfg;
  const book_options& opts;
  const cluster::node_spec& node;  // the one running the booking service
  bool tty;
  std::mt19937_64 jitter{std::random_device{}()};
  clock_type::time_point start = clock_type::now();

  clock_type::time_point put_deadline() const {
    return clock_type::now() + std::chrono::milliseconds(static_cast<long>(opts.put_timeout_s * 1000));
  }
  /// Bookings final so far, from the booking service's cheap counts.
  std::optional<std::int64_t> finals(clock_type::time_point deadline) {
    auto s = query_retrying(cfg, "booking", "stats", json::object(), deadline, jitter);
    if (!s || !s->is_object())
      return std::nullopt;
    return s->value("CONFIRMED", std::int64_t{0}) + s->value("CANCELLED", std::int64_t{0});
  }
};

/// Puts `total` bookings at the requested rate, in small batches (every
/// tick sends what the rate allows by then), each with an idempotency key
/// made of this run's id and its number, so that a retried PutEvents never
/// books twice. Their ids, or nullopt after saying why on stderr.
std::optional<std::vector<std::string>> put_bookings(booking_run& run, std::size_t total) {
  const auto& opts = run.opts;
  const auto flights = flights_of(run.cfg);
  std::mt19937_64 rng(opts.seed);
  const auto run_id = wire::make_uuid();
  std::vector<std::string> ids;
  ids.reserve(total);
  for (std::size_t sent = 0; sent < total;) {
    const double elapsed = std::chrono::duration<double>(clock_type::now() - run.start).count();
    std::size_t due = opts.count > 0 ? static_cast<std::size_t>(elapsed * opts.rate) + 1 : 1;
    due = std::min({due, total, sent + 200});
    if (due <= sent) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    wire::control_request req;
    req.verb = "put";
    for (std::size_t i = sent; i < due; ++i) {
      json detail = opts.count > 0 ? generated(rng, flights, static_cast<int>(i))
                                   : json{{"customer", opts.customer},
                                          {"email", opts.email},
                                          {"flight", opts.flight.empty() ? flights.front() : opts.flight},
                                          {"seat_preference", opts.seat},
                                          {"amount", opts.amount},
                                          {"card", opts.card}};
      req.entries.push_back(
          {"troupe.client", "BookingRequested", to_msgpack(detail), "", {}, run_id + "/" + std::to_string(i)});
    }
    auto rep = put(run.cfg, run.node, req, run.put_deadline(), run.jitter);
    if (!rep || !rep->ok) {
      std::fprintf(stderr, "%stroupe: PutEvents to %s failed: %s\n", run.tty ? "\n" : "", run.node.name.c_str(),
                   rep ? rep->body.c_str() : rep.err().message.c_str());
      return std::nullopt;
    }
    for (const auto& r : rep->results) {
      if (!r.ok()) {
        std::fprintf(stderr, "%stroupe: a booking was refused: %s\n", run.tty ? "\n" : "", r.error().c_str());
        return std::nullopt;
      }
      ids.push_back(r.id);
    }
    sent = due;
    if (run.tty)
      progress(0, total, 0, 0);
  }
  return ids;
}

/// Every booking's outcome so far: a final state, or a dead letter that
/// stopped its saga.
struct outcomes {
  std::map<std::string, json> final_rows;
  std::map<std::string, json> dead;  // booking id → its first dead letter
  std::size_t confirmed = 0, cancelled = 0;
  std::size_t settled() const { return final_rows.size() + dead.size(); }
};

/// Asks each DLQ which of `open` it holds letters for.
void look_for_dead_letters(const cluster::config& cfg, const std::set<std::string>& dlqs,
                           const std::vector<std::string>& open, outcomes& out) {
  for (std::size_t i = 0; i < open.size(); i += 1000) {
    const json args{{"ids", std::vector<std::string>(open.begin() + static_cast<long>(i),
                                                     open.begin() + static_cast<long>(std::min(open.size(), i + 1000)))}};
    for (const auto& q : dlqs)
      if (auto rows = query(cfg, q, "correlated", args, attempt_timeout); rows && rows->is_array())
        for (const auto& row : *rows)
          out.dead.emplace(row.value("correlation_id", ""), row);
  }
}

/// Reads the rows of `open` and records those now final; false when the
/// booking node did not answer (it is restarting or paused).
bool read_final_rows(const cluster::config& cfg, const std::vector<std::string>& open, outcomes& out) {
  for (std::size_t i = 0; i < open.size(); i += 1000) {
    json args{{"ids", std::vector<std::string>(open.begin() + static_cast<long>(i),
                                               open.begin() + static_cast<long>(std::min(open.size(), i + 1000)))}};
    auto rows = query(cfg, "booking", "bookings", args, attempt_timeout);
    if (!rows || !rows->is_array())
      return false;
    for (const auto& row : *rows) {
      const auto state = row.value("state", "");
      const auto id = row.value("id", "");
      if ((state == "CONFIRMED" || state == "CANCELLED") && !out.final_rows.count(id)) {
        out.final_rows[id] = row;
        out.dead.erase(id);  // a redriven saga that ended after all
        (state == "CONFIRMED" ? out.confirmed : out.cancelled)++;
      }
    }
  }
  return true;
}

/// Waits until every booking of `ids` has an outcome or the wait is over. A
/// node that does not answer is asked again next round.
outcomes wait_for_outcomes(booking_run& run, const std::vector<std::string>& ids, std::int64_t finals_before) {
  outcomes out;
  const auto dlqs = dead_letter_queues(run.cfg);
  const auto deadline = clock_type::now() + std::chrono::milliseconds(static_cast<long>(run.opts.wait_s * 1000));
  auto last_dlq_look = clock_type::time_point{};
  while (out.settled() < ids.size() && clock_type::now() < deadline) {
    std::vector<std::string> open;
    for (const auto& id : ids)
      if (!out.final_rows.count(id) && !out.dead.count(id))
        open.push_back(id);
    // Dead letters are rare: look for them once a second.
    if (!dlqs.empty() && clock_type::now() - last_dlq_look > std::chrono::seconds(1)) {
      last_dlq_look = clock_type::now();
      look_for_dead_letters(run.cfg, dlqs, open, out);
    }
    // Reading thousands of rows every round would load the booking node
    // that is being measured: wait on the counts, then read the rows.
    const auto f = run.finals(clock_type::now() + attempt_timeout);
    if (f && *f - finals_before < static_cast<std::int64_t>(ids.size() - out.dead.size()) && !run.tty) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    read_final_rows(run.cfg, open, out);
    if (run.tty)
      progress(out.settled(), ids.size(), out.confirmed, out.cancelled);
    if (out.settled() < ids.size())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (out.settled() < ids.size()) {
    // The wait ran out before the counts said every booking was done: the
    // rows of those that did finish are read once, so that the summary
    // counts them instead of calling everything pending.
    std::vector<std::string> open;
    for (const auto& id : ids)
      if (!out.final_rows.count(id) && !out.dead.count(id))
        open.push_back(id);
    read_final_rows(run.cfg, open, out);
  }
  return out;
}

/// One booking's outcome in a line; the exit status.
int print_one(const cluster::config& cfg, const std::string& id, outcomes& out, double wait_s) {
  if (out.final_rows.count(id)) {
    const auto& row = out.final_rows[id];
    std::printf("booking %s %s", id.c_str(), row.value("state", "").c_str());
    if (row.value("state", "") == "CONFIRMED")
      std::printf(": flight %s seat %s ticket %s\n", str_or(row, "flight").c_str(), str_or(row, "seat").c_str(),
                  str_or(row, "ticket").c_str());
    else
      std::printf(": %s\n", str_or(row, "reason").c_str());
    return 0;
  }
  if (out.dead.count(id)) {
    const auto& l = out.dead[id];
    std::printf("booking %s DEAD-LETTERED at %s (rule %s): %s: %s\n  see: troupe dlq show %s %s\n", id.c_str(),
                str_or(l, "TARGET_ARN").c_str(), str_or(l, "RULE_ARN").c_str(), str_or(l, "ERROR_CODE").c_str(),
                str_or(l, "ERROR_MESSAGE").c_str(), cfg.file.c_str(), str_or(l, "id").c_str());
    return 1;
  }
  std::printf("booking %s still PENDING after %.0f s\n", id.c_str(), wait_s);
  return 1;
}

/// The run's summary, as JSON or as text; the exit status.
int print_summary(const book_options& opts, std::size_t booked, const outcomes& out, double put_s, double total_s) {
  std::map<std::string, std::size_t> reasons, dead_reasons;
  std::vector<double> latency_ms;
  for (const auto& [id, row] : out.final_rows) {
    if (row.value("state", "") == "CANCELLED")
      ++reasons[str_or(row, "reason")];
    if (row.contains("created_ms") && row.contains("updated_ms"))
      latency_ms.push_back(row["updated_ms"].get<double>() - row["created_ms"].get<double>());
  }
  for (const auto& [id, letter] : out.dead)
    ++dead_reasons[letter.value("ERROR_CODE", "?") + " at " + letter.value("TARGET_ARN", "?")];
  const auto pending = booked - out.settled();
  json summary{{"bookings", booked},
               {"confirmed", out.confirmed},
               {"cancelled", out.cancelled},
               {"dead_lettered", out.dead.size()},
               {"pending", pending},
               {"cancel_reasons", reasons},
               {"dead_letter_reasons", dead_reasons},
               {"put_seconds", put_s},
               {"total_seconds", total_s},
               {"bookings_per_second", total_s > 0 ? out.final_rows.size() / total_s : 0},
               {"latency_ms_p50", percentile(latency_ms, 50)},
               {"latency_ms_p99", percentile(latency_ms, 99)}};
  if (opts.json) {
    std::printf("%s\n", summary.dump().c_str());
  } else {
    std::printf("%zu bookings in %.2f s (%.0f/s): %zu confirmed, %zu cancelled, %zu dead-lettered, %zu pending\n",
                booked, total_s, summary["bookings_per_second"].get<double>(), out.confirmed, out.cancelled,
                out.dead.size(), pending);
    for (const auto& [reason, n] : reasons)
      std::printf("  cancelled: %-40s %zu\n", reason.c_str(), n);
    for (const auto& [reason, n] : dead_reasons)
      std::printf("  dead-lettered: %-36s %zu\n", reason.c_str(), n);
    std::printf("  booking latency (BookingRequested to final state): p50 %.1f ms, p99 %.1f ms\n",
                percentile(latency_ms, 50), percentile(latency_ms, 99));
  }
  return pending == 0 ? 0 : 1;
}

} // namespace

int book(const cluster::config& cfg, const book_options& opts) {
  const auto* node = cfg.node_hosting("booking");
  if (!node) {
    std::fprintf(stderr, "troupe: no node runs the booking service\n");
    return 2;
  }
  if (auto r = wait_ready(cfg, std::chrono::seconds(30)); !r) {
    std::fprintf(stderr, "troupe: %s%s\n", r.err().code == errc::not_ready ? "the cluster is not up: " : "",
                 r.err().message.c_str());
    return 1;
  }
  booking_run run{cfg, opts, *node, isatty(STDERR_FILENO) && !opts.quiet};
  // Bookings already final before these: the cheap counts tell when these
  // may all be final, before their rows are read.
  const auto finals_before = run.finals(run.put_deadline()).value_or(0);
  run.start = clock_type::now();
  const auto ids = put_bookings(run, opts.count > 0 ? static_cast<std::size_t>(opts.count) : 1);
  if (!ids)
    return 1;
  const double put_s = std::chrono::duration<double>(clock_type::now() - run.start).count();
  if (opts.wait_s <= 0) {
    if (opts.json)
      std::printf("%s\n", json{{"bookings", ids->size()}, {"ids", *ids}}.dump().c_str());
    else
      for (const auto& id : *ids)
        std::printf("%s\n", id.c_str());
    return 0;
  }
  auto out = wait_for_outcomes(run, *ids, finals_before);
  const double total_s = std::chrono::duration<double>(clock_type::now() - run.start).count();
  if (run.tty)
    std::fputc('\n', stderr);
  if (opts.count == 0 && !opts.json)
    return print_one(cfg, ids->front(), out, opts.wait_s);
  return print_summary(opts, ids->size(), out, put_s, total_s);
}

int list_bookings(const cluster::config& cfg, const bookings_options& opts) {
  auto rows = query(cfg, "booking", "bookings", json::object(), request_timeout);
  if (!rows) {
    std::fprintf(stderr, "troupe: cannot read bookings: %s\n", rows.err().message.c_str());
    return 1;
  }
  if (!rows->is_array()) {
    std::fprintf(stderr, "troupe: the booking service answered with something other than rows\n");
    return 1;
  }
  if (!opts.json)
    std::printf("%-36s  %-9s  %-7s  %-4s  %-14s  %s\n", "ID", "STATE", "FLIGHT", "SEAT", "TICKET", "REASON");
  std::size_t shown = 0;
  for (const auto& row : *rows) {
    if (!opts.state.empty() && row.value("state", "") != opts.state)
      continue;
    ++shown;
    if (opts.json) {
      std::printf("%s\n", row.dump().c_str());
    } else {
      std::printf("%-36s  %-9s  %-7s  %-4s  %-14s  %s\n", str_or(row, "id").c_str(), str_or(row, "state").c_str(),
                  str_or(row, "flight").c_str(), str_or(row, "seat").c_str(), str_or(row, "ticket").c_str(),
                  str_or(row, "reason", "").c_str());
    }
  }
  if (!opts.json)
    std::printf("%zu booking%s\n", shown, shown == 1 ? "" : "s");
  return 0;
}

} // namespace troupe::cli
