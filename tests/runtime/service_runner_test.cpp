#include "actors/runtime/service_runner.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "actors/dead_letter.hpp"
#include "tests/runtime/fixtures.hpp"

namespace troupe::runtime {
namespace {

using namespace std::chrono_literals;

/// A service whose handler does what the event's detail "n" says:
/// 0 ok (emits Done), 1 transient, 2 permanent, 3 throws, 4 sleeps 30 ms,
/// 5 emits a detail that is not an object, 6 emits a detail over 256 KiB.
class scripted : public service {
 public:
  handled handle(const event_in& ev) override {
    const int n = ev.detail.value("n", 0);
    ev.state.put("seen", ev.envelope.id, n);
    switch (n) {
      case 1: return handled::transient("later");
      case 2: return handled::permanent("never");
      case 3: throw std::runtime_error("boom");
      case 4: std::this_thread::sleep_for(30ms); return handled::ok({{"Done", {{"late", true}}, ""}});
      case 5: return handled::ok({{"Done", nlohmann::json::array({1}), ""}});
      case 6: return handled::ok({{"Done", {{"x", std::string(300 * 1024, 'x')}}, ""}});
      default: return handled::ok({{"Done", {{"n", n}}, ""}});
    }
  }
  void restore(const std::string& table, const std::string& key, const nlohmann::json&) override {
    rows.push_back(table + "/" + key);
  }
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override {
    return {{"what", what}, {"args", args}};
  }
  std::vector<std::string> rows;
};

struct runner_fixture {
  std::shared_ptr<scripted> last;
  service_runner runner;

  explicit runner_fixture(int max_restarts = 2)
      : last(std::make_shared<scripted>()),
        runner("svc", last,
               [this](std::shared_ptr<service>) {
                 last = std::make_shared<scripted>();
                 return last;
               },
               cluster::supervision_spec{max_restarts, std::chrono::milliseconds(30000), {}, {}}, test::quiet_log()) {}

  answer run(int n, std::chrono::milliseconds timeout = 1000ms) {
    delivery d{0, "svc", "r", test::event_of("up", "A", 1, 1, n), nullptr, {}};
    d.timeout = timeout;
    const auto now = std::chrono::steady_clock::now();
    d.deadline = now + timeout;
    return runner.handle(d, now);
  }
};

TEST(service_runner, a_query_gets_its_args_and_args_that_are_not_json_are_an_error) {
  runner_fixture f;
  EXPECT_EQ(f.runner.query("rows", R"({"state":"PENDING"})")["args"]["state"], "PENDING");
  EXPECT_EQ(f.runner.query("rows", "")["args"], nlohmann::json::object()) << "no args: no filter";
  const auto bad = f.runner.query("rows", std::string(1000, '['));
  EXPECT_FALSE(bad.contains("what")) << "never asked with no filter in their place: " << bad.dump();
  EXPECT_EQ(bad.value("error", ""), "the query's args are not JSON");
}

TEST(service_runner, turns_each_handler_outcome_into_an_answer) {
  struct outcome_case {
    int n;
    outcome status;
    const char* code;
    std::size_t events, changes;
    service_mode mode_after;
  };
  const std::vector<outcome_case> cases = {
      {0, outcome::ok, "", 1, 1, service_mode::running},
      {1, outcome::transient, error_code::handler_error, 0, 0, service_mode::running},
      {2, outcome::permanent, error_code::permanent_error, 0, 0, service_mode::running},
      {3, outcome::transient, error_code::crash, 0, 0, service_mode::restarting},
      {4, outcome::transient, error_code::timeout, 0, 0, service_mode::restarting},
      // Its memory changed as if the answer would commit, and it will not:
      // rebuilt from its rows, and the answer goes to the DLQ.
      {5, outcome::permanent, invalid_event_code, 0, 0, service_mode::restarting},
      {6, outcome::permanent, invalid_event_code, 0, 0, service_mode::restarting},
  };
  for (const auto& c : cases) {
    runner_fixture f;
    auto a = f.run(c.n, c.n == 4 ? 10ms : 1000ms);
    EXPECT_EQ(a.status, c.status) << c.n;
    EXPECT_EQ(a.error_code, c.code) << c.n;
    EXPECT_EQ(a.events.size(), c.events) << c.n;   // a late answer's events are dropped
    EXPECT_EQ(a.changes.size(), c.changes) << c.n; // state only with an ok
    EXPECT_EQ(a.details.size(), c.events) << c.n;  // each event encoded once, here
    EXPECT_EQ(f.runner.mode(), c.mode_after) << c.n;
    EXPECT_EQ(f.runner.take_crash_news(), c.mode_after == service_mode::restarting) << c.n;
    EXPECT_FALSE(f.runner.take_crash_news()) << c.n;  // told once
  }
}

TEST(service_runner, a_delivery_past_its_deadline_is_not_started) {
  runner_fixture f;
  delivery d{0, "svc", "r", test::event_of("up", "A", 1, 1, 0), nullptr, {}};
  const auto now = std::chrono::steady_clock::now();
  d.deadline = now - 1ms;
  d.timeout = 1000ms;
  auto a = f.runner.handle(d, now);
  EXPECT_EQ(a.error_code, error_code::timeout);
  EXPECT_EQ(f.runner.counters().timeouts, 1u);
  EXPECT_EQ(f.runner.mode(), service_mode::running);  // it never ran: nothing in doubt
}

TEST(service_runner, while_restarting_deliveries_are_not_run_and_keep_their_attempt) {
  runner_fixture f;
  f.run(3);
  auto a = f.run(0);
  EXPECT_EQ(a.status, outcome::transient);
  EXPECT_TRUE(a.not_run);
  f.runner.restore({{"seen", "k1", "1"}, {"seen", "k2", "2"}});
  EXPECT_EQ(f.runner.mode(), service_mode::running);
  EXPECT_EQ(f.last->rows, (std::vector<std::string>{"seen/k1", "seen/k2"}));
  EXPECT_EQ(f.run(0).status, outcome::ok);
  EXPECT_EQ(f.runner.counters().restarts, 1u);
}

TEST(service_runner, past_its_restart_intensity_it_fails_for_good) {
  runner_fixture f(2);
  for (int i = 0; i < 2; ++i) {
    f.run(3);
    ASSERT_EQ(f.runner.mode(), service_mode::restarting);
    f.runner.restore({});
  }
  f.run(3);  // the third crash within 30 s
  EXPECT_EQ(f.runner.mode(), service_mode::failed);
  auto a = f.run(0);
  EXPECT_EQ(a.error_code, error_code::service_failed);
  EXPECT_FALSE(a.not_run);  // it spends its attempts, and ends in the DLQ
  EXPECT_EQ(f.runner.stats()["state"], "failed");
}

}  // namespace
}  // namespace troupe::runtime
