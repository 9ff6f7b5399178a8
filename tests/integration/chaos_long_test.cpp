// The long chaos suite (meson suite 'long', outside the default run): the
// five-node flight cluster under `troupe launch`, 20,000 bookings put while
// random nodes are killed with SIGKILL 100 times (the launcher restarting
// them) and paused with SIGSTOP for 1-5 s 30 times. Then `troupe audit`
// must pass: every booking exactly one outcome, nothing lost, no effect
// doubled.
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
#include "tests/integration/flight_rules.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// As flight_body, but supervision allows a hundred kills and more, and the
// cabins are larger so that thousands of bookings are confirmed; the rest
// are cancelled for want of a seat (or declined), which is as valid.
const char* long_flight_body = R"(
supervision: {max-restarts: 1000, within: 60, backoff-base: 0.05, backoff-cap: 0.2}
services:
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
  cluster c({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
             {"notification", {"notification"}}},
            std::string(long_flight_body) + flight_rules);
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);

  // A node left stopped would outlive the cluster's SIGTERM: whatever
  // happens, it gets SIGCONT before the cluster is torn down (this guard
  // is destroyed before `c`).
  std::atomic<pid_t> paused{-1};
  scope_exit resume_paused{[&] {
    if (const pid_t p = paused.exchange(-1); p > 0)
      kill(p, SIGCONT);
  }};

  // The bookings are spread over the whole run at an even pace: the
  // producer reckons how long the disruptions still to come will take (as
  // planned, scaled by how long the ones made so far took against their
  // plan) and puts what is left of the bookings, less a tail kept for after
  // the last disruption, over that time. So bookings flow through every
  // disruption, and the tail goes in after the last one. Only bookings whose
  // PutEvents was acknowledged are counted as certainly made.
  constexpr std::size_t batch = 25;  // per PutEvents: a few calls a second, so most disruptions meet one
  constexpr double kill_s = 0.6;  // a kill, the restart and the node answering again, as planned
  const std::size_t tail_bookings = std::min<std::size_t>(target, std::max<std::size_t>(2 * batch, target / 20));
  std::vector<double> step_s(plan.size()), to_go_s(plan.size() + 1, 0.0);  // planned, and from step i to the end
  for (std::size_t i = 0; i < plan.size(); ++i)
    step_s[i] = static_cast<double>(gaps[i].count()) / 1000
                + (plan[i].pause ? static_cast<double>(plan[i].length.count()) / 1000 + 0.3 : kill_s);
  for (std::size_t i = plan.size(); i-- > 0;)
    to_go_s[i] = to_go_s[i + 1] + step_s[i];
  std::atomic<std::size_t> sent{0}, acked{0}, done{0}, failed_puts{0}, puts_started{0}, puts_finished{0};
  std::atomic<double> pace{1.0};  // actual over planned time of the steps done
  std::atomic<steady::rep> step_started{steady::now().time_since_epoch().count()};
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    std::size_t i = 0;
    auto last_put = steady::now() - 1h;
    double per_second = 1;
    while (!stop && acked < target) {
      const auto now = steady::now();
      const auto d = done.load();
      const auto made = acked.load();
      if (d < plan.size()) {
        // Before the last disruption is over, the tail stays out.
        const std::size_t before_tail = target - tail_bookings;
        if (made + batch > before_tail) {
          std::this_thread::sleep_for(5ms);
          continue;
        }
        const double into_step = std::chrono::duration<double>(now.time_since_epoch()
                                                              - steady::duration(step_started.load())).count();
        const double left_s = std::max(0.5, to_go_s[d] * pace.load() - into_step);
        per_second = static_cast<double>(before_tail - made) / left_s;
      }  // after it, the tail goes in at the last pace
      if (now - last_put < std::chrono::duration<double>(static_cast<double>(batch) / per_second)) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      last_put = now;
      wire::client client(c.control("booking"));
      wire::control_request req;
      req.verb = "put";
      for (std::size_t k = 0; k < batch; ++k, ++i) {
        json b{{"customer", "C" + std::to_string(i)}, {"email", "c" + std::to_string(i) + "@example.com"},
               {"flight", i % 3 == 0 ? "TR100" : i % 3 == 1 ? "TR200" : "TR300"},
               {"seat_preference", i % 5 == 0 ? "window" : i % 5 == 1 ? "aisle" : "any"},
               {"amount", i % 17 == 0 ? 20000 : 100 + i % 50},
               {"card", i % 13 == 0 ? "4000000000000002" : "4111111111111111"}};
        std::string detail;
        json::to_msgpack(b, detail);
        req.entries.push_back({"chaos", "BookingRequested", detail, "", {}, {}});
      }
      sent += batch;
      ++puts_started;
      auto rep = client.call(req, 2s);
      if (rep && rep->ok)
        acked += static_cast<std::size_t>(std::count_if(rep->results.begin(), rep->results.end(),
                                                        [](const wire::put_result& r) { return !r.id.empty(); }));
      else
        ++failed_puts;
      ++puts_finished;
    }
  });
  scope_exit join_producer{[&] {
    stop = true;
    if (producer.joinable())
      producer.join();
  }};

  // The disruptions, one after another, each after its gap and once
  // bookings were put since the one before. A failure is noted and asserted
  // after the producer is joined.
  std::string failure;
  std::size_t killed = 0, pauses_made = 0, acked_at_last_disruption = 0;
  std::size_t overlapped = 0;  // disruptions during which a PutEvents was under way
  const auto run_started = steady::now();
  double planned_done_s = 0;
  for (std::size_t i = 0; i < plan.size() && failure.empty(); ++i) {
    const auto& d = plan[i];
    step_started = steady::now().time_since_epoch().count();
    const auto puts_before = puts_started.load();
    std::this_thread::sleep_for(gaps[i]);
    // (Unless the producer is holding back the tail.)
    if (!wait_until([&] { return puts_started.load() > puts_before || acked.load() + batch > target - tail_bookings; },
                    60s)) {
      failure = "no bookings were put for 60 s before disruption " + std::to_string(i + 1) + "; "
                + std::to_string(acked.load()) + " acknowledged";
      break;
    }
    const pid_t pid = pid_of(c, d.node);
    if (pid <= 0) {
      failure = "no pid for " + d.node;
      break;
    }
    acked_at_last_disruption = acked.load();
    const auto puts_at_start = puts_started.load();
    const bool put_under_way = puts_at_start != puts_finished.load();
    std::printf("%6.1f s disruption %zu: %s %s (pid %d) at %zu acked, %zu failed puts\n",
                std::chrono::duration<double>(steady::now() - run_started).count(), i + 1,
                d.pause ? ("pause " + std::to_string(d.length.count()) + " ms of").c_str() : "kill", d.node.c_str(),
                static_cast<int>(pid), acked_at_last_disruption, failed_puts.load());
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
    if (put_under_way || puts_started.load() != puts_at_start)
      ++overlapped;
    planned_done_s += step_s[i];
    pace = std::chrono::duration<double>(steady::now() - run_started).count() / planned_done_s;
    done = i + 1;
  }
  if (failure.empty() && !wait_until([&] { return acked.load() >= target; }, 300s))
    failure = "only " + std::to_string(acked.load()) + " bookings were acknowledged";
  stop = true;
  producer.join();
  ASSERT_TRUE(failure.empty()) << failure << "\n" << diagnostics(c);
  // Bookings were still to come when the last disruption was made.
  if (!plan.empty()) {
    EXPECT_LT(acked_at_last_disruption, target);
  }

  // Every booking settles, and the audit finds nothing wrong.
  auto audit = run_command({troupe_bin(), "audit", c.config_path(), "--format", "json", "--wait", "600"}, 660s);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(steady::now() - t0).count();
  ASSERT_EQ(audit.code, 0) << audit.output.substr(0, 20000) << "\n" << diagnostics(c);
  auto report = json::parse(audit.output.substr(audit.output.find('{')));
  const auto& by_state = report["bookings"];
  const auto confirmed = by_state["CONFIRMED"].get<std::size_t>();
  const auto cancelled = by_state["CANCELLED"].get<std::size_t>();
  const auto pending = by_state["PENDING"].get<std::size_t>();
  EXPECT_GE(confirmed + cancelled, acked.load());
  EXPECT_LE(confirmed + cancelled + pending, sent.load()) << "more bookings than were requested";
  EXPECT_EQ(pending, 0u);
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

  std::printf("chaos-long: bookings=%zu acked=%zu confirmed=%zu cancelled=%zu kills=%zu pauses=%zu restarts=%zu "
              "failed_puts=%zu overlapped=%zu/%zu seconds=%lld seed=%llu audit=%s\n",
              sent.load(), acked.load(), confirmed, cancelled, killed, pauses_made, restarts, failed_puts.load(),
              overlapped, plan.size(),
              static_cast<long long>(seconds), static_cast<unsigned long long>(seed),
              report["ok"].get<bool>() ? "pass" : "FAIL");
  EXPECT_EQ(c.stop(), 0) << diagnostics(c);
  EXPECT_FALSE(c.any_process_left());
  // How the launcher stopped the cluster.
  const auto lines = launcher_lines(c.launcher_output());
  if (const auto at = lines.rfind("launch | stopping all nodes"); at != std::string::npos)
    std::printf("%s", lines.substr(at).c_str());

  // The stopped cluster's stores audit clean too; its summary in words.
  auto summary = run_command({troupe_bin(), "audit", c.config_path()}, 120s);
  std::printf("%s", summary.output.c_str());
  std::fflush(stdout);
  EXPECT_EQ(summary.code, 0) << summary.output;
}

} // namespace
} // namespace troupe::test
