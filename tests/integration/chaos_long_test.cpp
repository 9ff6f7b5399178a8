// The long chaos suite (meson suite 'long', outside the default run): the
// shipped flight cluster (configs/flight.yaml) under `troupe launch`, 20,000 bookings made by
// `troupe book` (run as a user runs it) while random nodes are killed with
// SIGKILL 100 times (the launcher restarting them) and paused with SIGSTOP
// for 1-5 s 30 times. `troupe book` must see every booking to its end, each
// once; then `troupe audit` must pass: every booking exactly one outcome,
// nothing lost, no effect doubled.
//
// TROUPE_CHAOS_BOOKINGS, TROUPE_CHAOS_KILLS, TROUPE_CHAOS_PAUSES and
// TROUPE_CHAOS_SEED change the defaults (20000, 100, 30, 20240601).
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// The shipped configs/flight.yaml, with a supervision that allows a
// hundred kills and more, and cabins larger than the shipped ones so that
// thousands of bookings are confirmed; the rest are cancelled for want of a
// seat (or declined), which is as valid.
const char* long_supervision = "supervision: {max-restarts: 1000, within: 60, backoff-base: 0.05, backoff-cap: 0.2}\n";
const char* long_services = R"(services:
  payment:
    gateway: {declined-cards: ["4000000000000002"], default-limit: 10000}
  seat:
    flights:
      TR100: {rows: 200, layout: "ABCDEF GHJKLM"}
      TR200: {rows: 200, layout: "ABC DEF"}
      TR300: {rows: 2, layout: "AB CD"}
  notification:
    maildir: mail
    from: "troupe <bookings@troupe.test>"
)";

/// A non-negative integer from the environment, or `fallback` when unset.
std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    return fallback;
  char* end = nullptr;
  errno = 0;
  const auto n = std::strtoull(v, &end, 10);
  if (errno || *end || *v == '-')
    throw std::invalid_argument(std::string(name) + "=" + v + " is not a non-negative integer");
  return n;
}

/// Runs `f` when the scope ends, however it ends.
template <class F>
struct scope_exit {
  F f;
  ~scope_exit() { f(); }
};
template <class F>
scope_exit(F) -> scope_exit<F>;

struct disruption {
  std::string node;
  bool pause = false;                   // SIGSTOP then SIGCONT, else SIGKILL
  std::chrono::milliseconds length{0};  // how long a pause lasts
};

std::size_t count_matches(const std::string& text, const std::regex& re) {
  return static_cast<std::size_t>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

/// The launcher's own lines ("launch | ...") of its output, without the
/// nodes' lines it passes on.
std::string launcher_lines(const std::string& output) {
  std::string out;
  std::size_t at = 0;
  while (at < output.size()) {
    auto end = output.find('\n', at);
    end = end == std::string::npos ? output.size() : end + 1;
    if (output.compare(at, 9, "launch | ") == 0)
      out.append(output, at, end - at);
    at = end;
  }
  return out;
}

std::string tail(const std::string& s, std::size_t n) { return s.size() <= n ? s : s.substr(s.size() - n); }

/// For a failure: the launcher's last lines, then the last of everything.
std::string diagnostics(const cluster& c) {
  const auto out = c.launcher_output();
  return "launcher lines:\n" + tail(launcher_lines(out), 12000) + "\nlast output:\n" + tail(out, 8000);
}

TEST(chaos_long, bookings_survive_a_hundred_kills_and_pauses) {
  const auto target = env_number("TROUPE_CHAOS_BOOKINGS", 20000);
  const auto kills = env_number("TROUPE_CHAOS_KILLS", 100);
  const auto pauses = env_number("TROUPE_CHAOS_PAUSES", 30);
  const auto seed = env_number("TROUPE_CHAOS_SEED", 20240601);
  ASSERT_GT(target, 0u);
  std::mt19937_64 rng(seed);

  // The disruptions, in a random order: the kills spread evenly over the
  // nodes, the pauses on random nodes for 1-5 s.
  std::vector<disruption> plan;
  for (std::uint64_t i = 0; i < kills; ++i)
    plan.push_back({node_names[i % node_names.size()], false, {}});
  for (std::uint64_t i = 0; i < pauses; ++i)
    plan.push_back({node_names[rng() % node_names.size()], true, std::chrono::milliseconds(1000 + rng() % 4001)});
  std::shuffle(plan.begin(), plan.end(), rng);
  // Between disruptions, 0.5-1.5 s of bookings only.
  std::vector<std::chrono::milliseconds> gaps;
  for (std::size_t i = 0; i < plan.size(); ++i)
    gaps.emplace_back(500 + rng() % 1001);

  const auto t0 = steady::now();
  cluster c(shipped{"configs/flight.yaml", long_supervision, long_services, ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // The load is `troupe book` itself, as a user runs it: `target` bookings
  // at one steady rate, chosen so that the puts last a little longer than
  // the disruptions are planned to take (as planned: each gap, then a kill
  // with the restart and the node answering again, or a pause). Each
  // disruption waits, after its gap, until its share of the bookings is in;
  // one that has fallen behind the bookings skips its gap. So bookings flow
  // through every disruption, and a tail of them goes in after the last.
  // `troupe book` retries a PutEvents that got no reply (its node killed or
  // paused) with the same idempotency keys, then waits for every outcome.
  constexpr double kill_s = 0.6;   // a kill, the restart and the node answering again, as planned
  constexpr double margin = 1.15;  // the puts over the planned disruptions
  const std::size_t tail_bookings = std::min<std::size_t>(target, std::max<std::size_t>(50, target / 20));
  double planned_s = 0;
  for (std::size_t i = 0; i < plan.size(); ++i)
    planned_s += static_cast<double>(gaps[i].count()) / 1000
                 + (plan[i].pause ? static_cast<double>(plan[i].length.count()) / 1000 + 0.3 : kill_s);
  const double rate = planned_s > 0 ? std::max(1.0, static_cast<double>(target - tail_bookings) / (planned_s * margin))
                                    : 500.0;
  std::printf("%zu disruptions planned over %.0f s; troupe book puts %llu bookings at %.1f/s\n", plan.size(),
              planned_s, static_cast<unsigned long long>(target), rate);
  std::fflush(stdout);
  background_command book(book_command(c, target, rate, seed, 600, 120));
  const auto book_timeout = std::chrono::seconds(static_cast<long>(static_cast<double>(target) / rate * 2 + 900));

  // A node left stopped would outlive the cluster's SIGTERM: whatever
  // happens, it gets SIGCONT before the cluster is torn down (this guard
  // is destroyed before `c`).
  std::atomic<pid_t> paused{-1};
  scope_exit resume_paused{[&] {
    if (const pid_t p = paused.exchange(-1); p > 0)
      kill(p, SIGCONT);
  }};

  // The disruptions, one after another. A failure is noted and asserted
  // once the disruptions have stopped; `book` is reaped however it ends.
  std::string failure;
  std::size_t killed = 0, pauses_made = 0, during_puts = 0;
  std::int64_t made_at_last_disruption = 0;
  const auto run_started = steady::now();
  for (std::size_t i = 0; i < plan.size() && failure.empty(); ++i) {
    const auto& d = plan[i];
    const auto due = static_cast<std::int64_t>((i + 1) * (target - tail_bookings) / plan.size());
    if (bookings_made(*cfg).value_or(0) < due)
      std::this_thread::sleep_for(gaps[i]);
    auto made = wait_for_bookings(*cfg, due, book, 60s);
    if (made < due && book.running()) {
      failure = "the bookings stalled at " + std::to_string(made) + " for 60 s before disruption "
                + std::to_string(i + 1) + "\n" + book.output();
      break;
    }
    const pid_t pid = pid_of(c, d.node);
    if (pid <= 0) {
      failure = "no pid for " + d.node;
      break;
    }
    made_at_last_disruption = made;
    during_puts += made < static_cast<std::int64_t>(target);
    std::printf("%6.1f s disruption %zu: %s %s (pid %d) at %lld bookings\n",
                std::chrono::duration<double>(steady::now() - run_started).count(), i + 1,
                d.pause ? ("pause " + std::to_string(d.length.count()) + " ms of").c_str() : "kill", d.node.c_str(),
                static_cast<int>(pid), static_cast<long long>(made));
    std::fflush(stdout);
    if (d.pause) {
      paused = pid;
      if (kill(pid, SIGSTOP) != 0) {
        failure = "cannot stop " + d.node + " (pid " + std::to_string(pid) + ")";
        break;
      }
      std::this_thread::sleep_for(d.length);
      paused = -1;
      kill(pid, SIGCONT);
      ++pauses_made;
      if (!c.node_answers(d.node, 20s))
        failure = d.node + " does not answer after a pause of " + std::to_string(d.length.count()) + " ms";
    } else {
      if (kill(pid, SIGKILL) != 0) {
        failure = "cannot kill " + d.node + " (pid " + std::to_string(pid) + ")";
        break;
      }
      ++killed;
      const auto t_kill = steady::now();
      const bool restarted = wait_until([&] { return pid_of(c, d.node) != pid; }, 20s);
      const auto t_restarted = steady::now();
      if (!restarted || !c.node_answers(d.node, 20s))
        failure = d.node + " was not restarted after kill " + std::to_string(killed);
      const auto ms = [](steady::duration x) {
        return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(x).count());
      };
      std::printf("         restarted after %lld ms, answering after %lld ms\n", ms(t_restarted - t_kill),
                  ms(steady::now() - t_kill));
    }
  }
  ASSERT_TRUE(failure.empty()) << failure << "\n" << diagnostics(c);
  // Bookings were still to come when the last disruption was made.
  if (!plan.empty()) {
    EXPECT_LT(made_at_last_disruption, static_cast<std::int64_t>(target));
  }

  // `troupe book` saw every booking to its end, each counted once.
  const auto booked = book.wait(book_timeout);
  ASSERT_EQ(booked.code, 0) << booked.output.substr(0, 20000) << "\n" << diagnostics(c);
  const auto summary = book_summary(booked.output);
  ASSERT_TRUE(summary.is_object()) << booked.output.substr(0, 20000);
  std::printf("troupe book: %s\n", summary.dump().c_str());
  EXPECT_EQ(summary["bookings"], target) << summary.dump();
  EXPECT_EQ(summary["pending"], 0) << summary.dump();
  EXPECT_EQ(summary["dead_lettered"], 0) << summary.dump();
  EXPECT_EQ(summary["confirmed"].get<std::size_t>() + summary["cancelled"].get<std::size_t>()
                + summary["dead_lettered"].get<std::size_t>(),
            summary["bookings"].get<std::size_t>())
      << summary.dump();

  // The audit finds nothing wrong, and the stores hold exactly the bookings
  // `troupe book` made: none lost, none doubled by a retried PutEvents.
  auto audit = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json", "--wait", "600"}, 660s);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(steady::now() - t0).count();
  ASSERT_EQ(audit.code, 0) << audit.output.substr(0, 20000) << "\n" << diagnostics(c);
  auto report = json::parse(audit.output.substr(audit.output.find('{')));
  const auto& by_state = report["bookings"];
  const auto confirmed = by_state["CONFIRMED"].get<std::size_t>();
  const auto cancelled = by_state["CANCELLED"].get<std::size_t>();
  const auto pending = by_state["PENDING"].get<std::size_t>();
  EXPECT_EQ(confirmed, summary["confirmed"].get<std::size_t>());
  EXPECT_EQ(cancelled, summary["cancelled"].get<std::size_t>());
  EXPECT_EQ(confirmed + cancelled + pending, target) << "a booking was lost or doubled";
  EXPECT_EQ(pending, 0u);
  EXPECT_EQ(report["cancelled_by_reason"], summary["cancel_reasons"]) << report.dump() << "\n" << summary.dump();
  EXPECT_EQ(report["emails"], target) << "one email per booking";
  EXPECT_TRUE(report["violations"].empty()) << report.dump(2);

  // The launcher saw every kill, restarted every node it killed, and no
  // node died of anything but those kills (a pause is no death) or was
  // given up on.
  const auto log = launcher_lines(c.launcher_output());
  const auto restarts = count_matches(log, std::regex("restarted node [a-z]+ \\(pid [0-9]+\\)"));
  const auto deaths = count_matches(log, std::regex("node [a-z]+ [^;\n]*; restart [0-9]+ in"));
  const auto sigkill_deaths = count_matches(log, std::regex("node [a-z]+ killed by signal 9 [^;\n]*; restart [0-9]+ in"));
  EXPECT_EQ(killed, kills);
  EXPECT_EQ(pauses_made, pauses);
  EXPECT_EQ(sigkill_deaths, killed) << log;
  EXPECT_EQ(deaths, sigkill_deaths) << "a node died other than by the test's SIGKILL\n" << log;
  EXPECT_EQ(restarts, killed) << log;
  EXPECT_EQ(count_matches(log, std::regex("node [a-z]+ FAILED")), 0u) << log;
  if (kills >= node_names.size()) {
    for (const auto& node : node_names)
      EXPECT_NE(log.find("restarted node " + node), std::string::npos) << node;
  }

  std::printf("chaos-long: bookings=%zu confirmed=%zu cancelled=%zu dead_lettered=%zu pending=%zu kills=%zu "
              "pauses=%zu restarts=%zu during_puts=%zu/%zu rate=%.1f/s put=%.0fs seconds=%lld seed=%llu audit=%s\n",
              summary["bookings"].get<std::size_t>(), confirmed, cancelled,
              summary["dead_lettered"].get<std::size_t>(), summary["pending"].get<std::size_t>(), killed, pauses_made,
              restarts, during_puts, plan.size(), rate, summary["put_seconds"].get<double>(),
              static_cast<long long>(seconds), static_cast<unsigned long long>(seed),
              report["ok"].get<bool>() ? "pass" : "FAIL");
  EXPECT_EQ(c.stop(), 0) << diagnostics(c);
  EXPECT_FALSE(c.any_process_left());
  // How the launcher stopped the cluster.
  const auto lines = launcher_lines(c.launcher_output());
  if (const auto at = lines.rfind("] stopping all nodes"); at != std::string::npos)
    std::printf("%s", lines.substr(lines.rfind('\n', at) + 1).c_str());

  // The stopped cluster's stores audit clean too, read from the disk; its
  // summary in words.
  auto in_words = run_command({troupe_bin(), "audit", c.config_path(), "--offline"}, 120s);
  std::printf("%s", in_words.output.c_str());
  std::fflush(stdout);
  EXPECT_EQ(in_words.code, 0) << in_words.output;
}

} // namespace
} // namespace troupe::test
