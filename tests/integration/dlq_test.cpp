// The dead-letter queue on the real cluster: the flight nodes plus a `dlq`
// node, faults injected into one service. Deliveries that fail for good
// reach the DLQ over the reliable wire with every EventBridge attribute;
// `troupe dlq` lists, shows, redrives and purges them; the DLQ keeps them
// across a kill -9; handler timeouts, crashes and bad details end where
// they should.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"
#include "wire/limits.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const char* settings = big_flight_services;

/// The saga's rules, each with the DLQ; `charge` and `confirmation` take
/// the retry policies given.
std::string rules(const std::string& charge_policy, const std::string& confirmation_policy) {
  return std::string(R"(rules:
  - {name: requests, pattern: {"detail-type": ["BookingRequested"]}, target: booking, dead-letter-queue: dlq}
  - name: charge
    pattern: {"source": ["troupe.booking"], "detail-type": ["BookingCreated"]}
    target: payment
    dead-letter-queue: dlq
    retry-policy: )") + charge_policy + R"(
  - {name: seat, pattern: {"detail-type": ["PaymentConfirmed"]}, target: seat, dead-letter-queue: dlq}
  - {name: ticket, pattern: {"detail-type": ["SeatAssigned"]}, target: ticket, dead-letter-queue: dlq}
  - {name: outcomes, pattern: {"detail-type": ["TicketIssued", "PaymentFailed"]}, target: booking, dead-letter-queue: dlq}
  - name: confirmation
    pattern: {"detail-type": ["TicketIssued"]}
    target: notification
    dead-letter-queue: dlq
    retry-policy: )" + confirmation_policy + "\n";
}

const char* quick = "{maximum-retry-attempts: 2, backoff-base: 0.01, backoff-cap: 0.05}";

const char* lenient = "{max-restarts: 100, within: 60, backoff-base: 0.05, backoff-cap: 0.2}";

/// The flight nodes and a DLQ node; `supervision` restarts nodes (by the
/// launcher) and service actors (by their node) alike.
cluster dlq_cluster(const std::string& faults, const std::string& charge = quick,
                    const std::string& confirmation = quick, const std::string& supervision = lenient) {
  return cluster({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
                  {"notification", {"notification"}}, {"dlq", {"dlq"}}},
                 "supervision: " + supervision + settings + faults + rules(charge, confirmation));
}


std::vector<json> wait_for_letters(const cluster& c, std::size_t n, std::chrono::seconds timeout = 30s) {
  std::vector<json> letters;
  wait_until(
      [&] {
        letters = dlq_json(c, {"list"});
        return letters.size() >= n;
      },
      timeout);
  return letters;
}

json metric(const troupe::cluster::config& cfg, const std::string& node, const std::string& rule) {
  auto s = cli::status(cfg, *cfg.find_node(node), 5s);
  if (s)
    for (const auto& m : (*s)["metrics"])
      if (m["rule"] == rule)
        return m;
  return json::object();
}

std::string tail(const std::string& s) { return s.substr(s.size() > 6000 ? s.size() - 6000 : 0); }

TEST(dlq, a_dead_letter_carries_every_attribute) {
  // Poison fails permanently at payment; notification is down for good and
  // gets 2 retries.
  auto c = dlq_cluster(R"(faults:
  payment: {poison: {"detail": {"customer": [{"prefix": "Poison"}]}}}
  notification: {transient: 1.0}
)");
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto ids = book(c, {"Poison P", "Good G"});
  ASSERT_EQ(ids.size(), 2u);

  auto letters = wait_for_letters(c, 2);
  ASSERT_EQ(letters.size(), 2u) << tail(c.launcher_output());
  std::map<std::string, json> by_rule;
  for (const auto& l : letters)
    by_rule[l["RULE_ARN"]] = l;
  ASSERT_TRUE(by_rule.count("charge") && by_rule.count("confirmation")) << json(letters).dump(1);

  const auto& poison = by_rule["charge"];
  EXPECT_EQ(poison["TARGET_ARN"], "payment");
  EXPECT_EQ(poison["NODE"], "payment");
  EXPECT_EQ(poison["ERROR_CODE"], "PERMANENT_ERROR");
  EXPECT_NE(poison["ERROR_MESSAGE"].get<std::string>().find("poison"), std::string::npos) << poison.dump();
  EXPECT_EQ(poison["EXHAUSTED_RETRY_CONDITION"], "none");
  EXPECT_EQ(poison["RETRY_ATTEMPTS"], 0);
  // One attempt, taken after the event was made, ended before the DLQ
  // received its letter; payment's metrics count that one attempt and no
  // retry (the good booking's charge is the other attempt).
  EXPECT_LE(poison["event"]["time_ms"].get<std::int64_t>(), poison["FIRST_ATTEMPT_MS"].get<std::int64_t>());
  EXPECT_LE(poison["FIRST_ATTEMPT_MS"].get<std::int64_t>(), poison["LAST_ATTEMPT_MS"].get<std::int64_t>());
  EXPECT_LE(poison["LAST_ATTEMPT_MS"].get<std::int64_t>(), poison["RECEIVED_MS"].get<std::int64_t>());
  EXPECT_EQ(poison["event"]["detail-type"], "BookingCreated");
  EXPECT_EQ(poison["event"]["detail"]["customer"], "Poison P");
  EXPECT_EQ(poison["event"]["correlation_id"], ids[0]);

  const auto& mail = by_rule["confirmation"];
  EXPECT_EQ(mail["TARGET_ARN"], "notification");
  EXPECT_EQ(mail["NODE"], "notification");
  EXPECT_EQ(mail["ERROR_CODE"], "HANDLER_ERROR");
  EXPECT_EQ(mail["EXHAUSTED_RETRY_CONDITION"], "MaximumRetryAttempts");
  EXPECT_EQ(mail["RETRY_ATTEMPTS"], 2);
  EXPECT_GT(mail["LAST_ATTEMPT_MS"].get<std::int64_t>(), mail["FIRST_ATTEMPT_MS"].get<std::int64_t>());
  EXPECT_GE(mail["FIRST_ATTEMPT_MS"].get<std::int64_t>(), mail["event"]["time_ms"].get<std::int64_t>());
  EXPECT_EQ(mail["event"]["detail-type"], "TicketIssued");
  for (const auto& l : letters)
    for (const char* key : {"id", "RULE_ARN", "TARGET_ARN", "NODE", "ERROR_CODE", "ERROR_MESSAGE",
                            "EXHAUSTED_RETRY_CONDITION", "RETRY_ATTEMPTS", "FIRST_ATTEMPT_MS", "LAST_ATTEMPT_MS",
                            "RECEIVED_MS", "event"})
      EXPECT_TRUE(l.contains(key)) << key << " missing in " << l.dump();

  // show, filters and the metrics agree.
  auto shown = dlq_json(c, {"show", poison["id"]});
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0], poison);
  EXPECT_EQ(dlq_json(c, {"list", "--error-code", "PERMANENT_ERROR"}).size(), 1u);
  EXPECT_EQ(dlq_json(c, {"list", "--target", "notification"}).size(), 1u);
  EXPECT_EQ(dlq_json(c, {"list", "--rule", "seat"}).size(), 0u);
  EXPECT_EQ(metric(*cfg, "payment", "charge")["InvocationsSentToDlq"], 1);
  EXPECT_EQ(metric(*cfg, "payment", "charge")["InvocationAttempts"], 2);
  EXPECT_EQ(metric(*cfg, "payment", "charge")["RetryInvocationAttempts"], 0);
  EXPECT_EQ(metric(*cfg, "notification", "confirmation")["InvocationsSentToDlq"], 1);
  EXPECT_EQ(metric(*cfg, "notification", "confirmation")["InvocationAttempts"], 3);

  // The table names them too; a purge empties the queue.
  auto table = run_command({troupe_bin(), "dlq", "list", c.config_path()}, 30s);
  EXPECT_EQ(table.code, 0) << table.output;
  EXPECT_NE(table.output.find("2 dead letters"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("PERMANENT_ERROR"), std::string::npos) << table.output;
  auto purge = run_command({troupe_bin(), "dlq", "purge", c.config_path(), "--all"}, 30s);
  EXPECT_EQ(purge.code, 0) << purge.output;
  EXPECT_NE(purge.output.find("purged 2 dead letters"), std::string::npos) << purge.output;
  EXPECT_TRUE(dlq_json(c, {"list"}).empty());
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

TEST(dlq, redrive_delivers_again_and_a_new_failure_comes_back_counted) {
  // The email server is down until the test brings it back: the outage
  // ends when the test has seen what it must see during it, not at a time
  // a slow machine might miss.
  auto c = dlq_cluster(R"(faults:
  notification: {transient: 1.0}
)");
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto ids = book(c, {"Ann", "Bob"});
  ASSERT_EQ(ids.size(), 2u);
  auto letters = wait_for_letters(c, 2);
  ASSERT_EQ(letters.size(), 2u) << tail(c.launcher_output());
  for (const auto& l : letters)
    EXPECT_EQ(l["RULE_ARN"], "confirmation") << l.dump();

  // Redriven during the outage: it fails again and comes back as a new
  // dead letter with a fresh budget's attempts.
  const std::string first = letters[0]["id"];
  auto r = run_command({troupe_bin(), "dlq", "redrive", c.config_path(), first}, 30s);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("redriven 1 dead letter"), std::string::npos) << r.output;
  std::vector<json> now;
  ASSERT_TRUE(wait_until(
      [&] {
        now = dlq_json(c, {"list"});
        return now.size() == 2 && now[0]["id"] != first && now[1]["id"] != first;
      },
      20s))
      << json(now).dump(1);
  for (const auto& l : now) {
    EXPECT_EQ(l["RETRY_ATTEMPTS"], 2) << l.dump();
    EXPECT_EQ(l["ERROR_CODE"], "HANDLER_ERROR") << l.dump();
  }
  auto s = cli::status(*cfg, *cfg->find_node("notification"), 5s);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["bus"]["redriven"], 1) << s->dump(1);
  EXPECT_EQ((*s)["services"]["notification"]["ok"], 0) << s->dump(1);

  // The email server comes back: the notification node restarts (under the
  // launcher) on the config without the fault, and a redrive of all then
  // delivers both emails, once each.
  std::ifstream in(c.config_path());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const auto healed = std::regex_replace(text, std::regex("notification: \\{transient: 1.0\\}"),
                                         "notification: {transient: 0}");
  ASSERT_NE(healed, text);
  std::ofstream(c.config_path()) << healed;
  const pid_t down = pid_of(c, "notification");
  ASSERT_GT(down, 0);
  ASSERT_EQ(kill(down, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return pid_of(c, "notification") != down; }, 20s)) << tail(c.launcher_output());
  ASSERT_TRUE(c.node_answers("notification", 20s)) << tail(c.launcher_output());
  r = run_command({troupe_bin(), "dlq", "redrive", c.config_path(), "--all"}, 30s);
  ASSERT_EQ(r.code, 0) << r.output;
  json emails;
  EXPECT_TRUE(wait_until(
      [&] {
        auto e = cli::query(*cfg, "notification", "emails", json::object(), 5s);
        if (e)
          emails = *e;
        return e && emails.size() == 2;
      },
      20s))
      << emails.dump(1) << tail(c.launcher_output());
  EXPECT_TRUE(dlq_json(c, {"list"}).empty());
  s = cli::status(*cfg, *cfg->find_node("notification"), 5s);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["bus"]["redriven"], 2) << s->dump(1);
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

TEST(dlq, a_redrive_of_an_unknown_id_or_a_vanished_target_changes_nothing) {
  auto c = dlq_cluster(R"(faults:
  payment: {poison: {"detail": {"customer": [{"prefix": "Poison"}]}}}
)");
  c.start();
  ASSERT_EQ(book(c, {"Poison A"}).size(), 1u);
  auto letters = wait_for_letters(c, 1);
  ASSERT_EQ(letters.size(), 1u);

  auto r = run_command({troupe_bin(), "dlq", "redrive", c.config_path(), "0190aaaa-0000-7000-8000-000000000000"}, 30s);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no dead letter 0190aaaa-0000-7000-8000-000000000000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing was redriven"), std::string::npos) << r.output;

  // The same cluster, but its config no longer has the charge rule.
  std::ifstream in(c.config_path());
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text = std::regex_replace(text, std::regex("name: charge"), "name: charge-v2");
  const auto changed = (c.dir() / "changed.yaml").string();
  std::ofstream(changed) << text;
  r = run_command({troupe_bin(), "dlq", "redrive", changed, "--all"}, 30s);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("rule 'charge' no longer exists"), std::string::npos) << r.output;
  auto after = dlq_json(c, {"list"});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0], letters[0]);

  // The nodes restart on the changed config while the operator still has
  // the old one: the CLI lets the redrive through, payment's node refuses
  // it, and the letter comes back to the DLQ instead of being lost.
  ASSERT_EQ(c.stop(), 0) << tail(c.launcher_output());
  const auto old = (c.dir() / "old.yaml").string();
  std::filesystem::copy_file(c.config_path(), old);
  std::ofstream(c.config_path()) << text;
  c.start();
  r = run_command({troupe_bin(), "dlq", "redrive", old, "--all"}, 30s);
  EXPECT_EQ(r.code, 0) << r.output;
  std::vector<json> back;
  ASSERT_TRUE(wait_until(
      [&] {
        back = dlq_json(c, {"list"});
        return back.size() == 1 && back[0]["id"] != letters[0]["id"];
      },
      20s))
      << json(back).dump(1) << tail(c.launcher_output());
  EXPECT_EQ(back[0]["ERROR_CODE"], "REDRIVE_REFUSED");
  EXPECT_EQ(back[0]["RULE_ARN"], "charge");
  EXPECT_EQ(back[0]["event"], letters[0]["event"]);
  EXPECT_NE(back[0]["ERROR_MESSAGE"].get<std::string>().find("no longer exists"), std::string::npos);
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

TEST(dlq, dead_letters_survive_kill_9_of_the_dlq_node_and_wait_for_it) {
  auto c = dlq_cluster(R"(faults:
  payment: {poison: {"detail": {"customer": [{"prefix": "Poison"}]}}}
)");
  c.start();
  ASSERT_EQ(book(c, {"Poison 1"}).size(), 1u);
  ASSERT_EQ(wait_for_letters(c, 1).size(), 1u);

  // Killed with one dead letter stored; another is made while it is down.
  const pid_t pid = pid_of(c, "dlq");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(book(c, {"Poison 2"}).size(), 1u);
  ASSERT_TRUE(wait_until([&] { return pid_of(c, "dlq") != pid; }, 20s)) << c.launcher_output();
  ASSERT_TRUE(c.node_answers("dlq", 20s));
  auto letters = wait_for_letters(c, 2);
  ASSERT_EQ(letters.size(), 2u) << tail(c.launcher_output());
  std::set<std::string> customers;
  for (const auto& l : letters)
    customers.insert(l["event"]["detail"]["customer"].get<std::string>());
  EXPECT_EQ(customers, (std::set<std::string>{"Poison 1", "Poison 2"}));
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

TEST(dlq, a_handler_that_overruns_its_timeout_fails_with_timeout) {
  // Payment takes 1 s; the charge rule allows 0.2 s and one retry.
  auto c = dlq_cluster("faults:\n  payment: {delay: 1}\n",
                       "{maximum-retry-attempts: 1, backoff-base: 0.01, backoff-cap: 0.05, handler-timeout: 0.2}");
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto ids = book(c, {"Slow"});
  ASSERT_EQ(ids.size(), 1u);
  auto letters = wait_for_letters(c, 1);
  ASSERT_EQ(letters.size(), 1u) << tail(c.launcher_output());
  EXPECT_EQ(letters[0]["RULE_ARN"], "charge");
  EXPECT_EQ(letters[0]["ERROR_CODE"], "TIMEOUT");
  EXPECT_EQ(letters[0]["EXHAUSTED_RETRY_CONDITION"], "MaximumRetryAttempts");
  EXPECT_EQ(letters[0]["RETRY_ATTEMPTS"], 1);
  // The delay ran past the deadline, so the handler never ran: nothing was
  // charged and nothing emitted, both attempts timed out, and the saga
  // stops there. The dead letter ends the delivery: nothing can follow it.
  EXPECT_NE(letters[0]["ERROR_MESSAGE"].get<std::string>().find("not started within the handler timeout"),
            std::string::npos)
      << letters[0].dump();
  auto s = cli::status(*cfg, *cfg->find_node("payment"), 5s);
  ASSERT_TRUE(s);
  EXPECT_EQ((*s)["services"]["payment"]["timeouts"], 2) << s->dump(1);
  EXPECT_EQ((*s)["services"]["payment"]["ok"], 0) << s->dump(1);
  EXPECT_EQ((*s)["bus"]["emitted"], 0) << s->dump(1);
  auto payments = cli::query(*cfg, "payment", "payments", json::object(), 5s);
  ASSERT_TRUE(payments);
  EXPECT_TRUE(payments->empty()) << payments->dump(1);
  auto rows = cli::query(*cfg, "booking", "bookings", json{{"ids", ids}}, 5s);
  ASSERT_TRUE(rows && rows->size() == 1);
  EXPECT_EQ((*rows)[0]["state"], "PENDING") << rows->dump();
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

// A dead letter carries its event whole; an event near the size limit
// makes one bigger than an event may be. It cannot be sent: it is counted
// as InvocationsFailedToBeSentToDlq and logged, while a small event's dead
// letter, behind it on the same stream, reaches the DLQ.
TEST(dlq, a_dead_letter_too_big_for_an_event_is_counted_as_not_sent) {
  cluster c({{"src", {"ticket"}}, {"dst", {"sink"}}, {"dlq", {"dlq"}}},
            "faults:\n  sink: {poison: {\"detail\": {\"kind\": [\"poison\"]}}}\n"
            "rules:\n  - {name: pings, pattern: {\"detail-type\": [\"Ping\"]}, target: sink, "
            "dead-letter-queue: dlq}\n");
  for (const auto* n : {"src", "dst", "dlq"})
    c.start_node(n);
  for (const auto* n : {"src", "dst", "dlq"})
    ASSERT_TRUE(c.node_answers(n, 10s)) << n;
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  std::string big, small;
  json::to_msgpack(json{{"kind", "poison"}, {"pad", std::string(wire::max_entry_bytes - 1000, 'x')}}, big);
  json::to_msgpack(json{{"kind", "poison"}, {"pad", "small"}}, small);
  wire::client client(c.control("src"), c.curve("src"));
  wire::control_request req;
  req.verb = "put";
  req.entries.push_back({"test", "Ping", big, "", {}, {}});
  req.entries.push_back({"test", "Ping", small, "", {}, {}});
  auto rep = client.call(req, 10s);
  ASSERT_TRUE(rep && rep->ok && rep->results.size() == 2);
  ASSERT_TRUE(rep->results[0].ok() && rep->results[1].ok()) << rep->results[0].error();

  json m;
  EXPECT_TRUE(wait_until(
      [&] {
        m = metric(*cfg, "dst", "pings");
        return m.value("FailedInvocations", 0) == 2;
      },
      30s))
      << m.dump(1);
  EXPECT_EQ(m["InvocationsFailedToBeSentToDlq"], 1) << m.dump(1);
  EXPECT_EQ(m["InvocationsSentToDlq"], 1) << m.dump(1);
  auto letters = wait_for_letters(c, 1);
  ASSERT_EQ(letters.size(), 1u) << json(letters).dump(1);
  EXPECT_EQ(letters[0]["event"]["id"], rep->results[1].id) << letters[0].dump();
  EXPECT_EQ(letters[0]["ERROR_CODE"], "PERMANENT_ERROR");
  EXPECT_NE(c.node_output("dst").find("the dead letter is more than an event may hold; not sent to the DLQ"),
            std::string::npos)
      << c.node_output("dst");
}

TEST(dlq, a_crashing_service_is_restarted_until_its_intensity_limit) {
  // Payment throws on 30% of deliveries: restarted each time, every booking
  // still confirmed.
  {
    auto c = dlq_cluster("faults:\n  payment: {crash: 0.3}\n",
                         "{maximum-retry-attempts: 185, backoff-base: 0.01, backoff-cap: 0.05}");
    c.start();
    auto cfg = cli::load_config(c.config_path());
    ASSERT_TRUE(cfg);
    std::vector<std::string> names;
    for (int i = 0; i < 20; ++i)
      names.push_back("C" + std::to_string(i));
    const auto ids = book(c, names);
    ASSERT_EQ(ids.size(), names.size());
    json rows;
    EXPECT_TRUE(wait_confirmed(*cfg, ids, 60s, rows)) << rows.dump(1) << tail(c.launcher_output());
    auto s = cli::status(*cfg, *cfg->find_node("payment"), 5s);
    ASSERT_TRUE(s);
    const auto& svc = (*s)["services"]["payment"];
    EXPECT_EQ(svc["state"], "running") << s->dump(1);
    EXPECT_GE(svc["restarts"].get<int>(), 1) << s->dump(1);
    EXPECT_EQ(svc["restarts"], svc["crashed"]) << s->dump(1);
    // No charge was lost or doubled by the restarts.
    auto payments = cli::query(*cfg, "payment", "payments", json::object(), 5s);
    ASSERT_TRUE(payments && payments->is_array());
    EXPECT_EQ(payments->size(), ids.size()) << payments->dump(1);
    EXPECT_TRUE(dlq_json(c, {"list"}).empty());
    EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
  }
  // Always throwing, with at most 3 restarts in 60 s: the fourth crash
  // fails the service, status says so, and its deliveries go to the DLQ.
  auto c = dlq_cluster("faults:\n  payment: {crash: 1.0}\n", quick, quick,
                       "{max-restarts: 3, within: 60, backoff-base: 0.05, backoff-cap: 0.2}");
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  ASSERT_EQ(book(c, {"A", "B", "C", "D", "E"}).size(), 5u);
  json svc;
  EXPECT_TRUE(wait_until(
      [&] {
        auto s = cli::status(*cfg, *cfg->find_node("payment"), 5s);
        if (s)
          svc = (*s)["services"]["payment"];
        return s && svc["state"] == "failed";
      },
      30s))
      << svc.dump(1);
  // Exactly 3 restarts were allowed; the fourth crash failed it.
  EXPECT_EQ(svc["restarts"], 3) << svc.dump(1);
  EXPECT_EQ(svc["crashed"], 4) << svc.dump(1);
  auto letters = wait_for_letters(c, 5);
  ASSERT_EQ(letters.size(), 5u) << tail(c.launcher_output());
  for (const auto& l : letters) {
    EXPECT_EQ(l["RULE_ARN"], "charge");
    const auto code = l["ERROR_CODE"].get<std::string>();
    EXPECT_TRUE(code == "SERVICE_FAILED" || code == "CRASH") << l.dump();
  }
  // Said with the delivery it crashed on last.
  EXPECT_TRUE(std::regex_search(c.launcher_output(),
                                std::regex(R"(\[service=payment rule=charge corr=\S* event=\S+\] failed: )")))
      << tail(c.launcher_output());
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

TEST(dlq, a_detail_that_does_not_fit_is_a_permanent_error_naming_the_field) {
  auto c = dlq_cluster("");
  c.start();
  wire::client client(c.control("booking"), c.curve("booking"));
  wire::control_request req;
  req.verb = "put";
  std::string detail;
  json::to_msgpack(json{{"customer", "No Email"}, {"flight", "BIG"}, {"amount", 100}, {"card", "4111111111111111"},
                        {"seat_preference", "any"}},
                   detail);
  req.entries.push_back({"test", "BookingRequested", detail, "", {}, {}});
  auto rep = client.call(req, 10s);
  ASSERT_TRUE(rep && rep->ok);
  auto letters = wait_for_letters(c, 1);
  ASSERT_EQ(letters.size(), 1u) << tail(c.launcher_output());
  EXPECT_EQ(letters[0]["RULE_ARN"], "requests");
  EXPECT_EQ(letters[0]["ERROR_CODE"], "PERMANENT_ERROR");
  EXPECT_NE(letters[0]["ERROR_MESSAGE"].get<std::string>().find("detail.email"), std::string::npos)
      << letters[0].dump();

  // MessagePack strings need not be UTF-8: such an event still reaches the
  // DLQ whole (its detail kept as bytes), and the DLQ node stays up.
  req.entries.clear();
  std::string raw;
  json::to_msgpack(json{{"customer", "Bad \xff byte"}, {"flight", "BIG"}}, raw);
  req.entries.push_back({"test", "BookingRequested", raw, "", {}, {}});
  rep = client.call(req, 10s);
  ASSERT_TRUE(rep && rep->ok);
  letters = wait_for_letters(c, 2);
  ASSERT_EQ(letters.size(), 2u) << tail(c.launcher_output());
  EXPECT_TRUE(letters[1]["event"]["detail"].is_null()) << letters[1].dump();
  EXPECT_FALSE(letters[1]["event"]["detail-msgpack-hex"].get<std::string>().empty());
  EXPECT_TRUE(c.node_answers("dlq", 1s));

  // Nobody may put what only the runtime sends: a forged redrive is refused.
  req.entries.clear();
  req.entries.push_back({"troupe.dlq", "DeadLetterRedriven", detail, "", {}, {}});
  req.entries.push_back({"troupe.runtime", "DeadLetter", detail, "", {}, {}});
  rep = client.call(req, 10s);
  ASSERT_TRUE(rep && rep->ok && rep->results.size() == 2);
  for (const auto& r : rep->results) {
    EXPECT_TRUE(r.id.empty());
    EXPECT_NE(r.error().find("is reserved for the runtime"), std::string::npos) << r.error();
  }
  EXPECT_EQ(c.stop(), 0) << tail(c.launcher_output());
}

TEST(dlq, events_past_their_maximum_age_are_dead_lettered_on_both_sides) {
  // Seat is down for longer than the seat rule's maximum age (60 s): the
  // delivery gives up on the age. The notification node never starts: the
  // booking node keeps the cancellation for it for 60 s, then dead-letters
  // it for the node that never took it.
  std::string body = std::string("supervision: ") + lenient + settings
                     + "faults:\n  seat: {outage: {after: 0, for: 600}}\n"
                     + rules(quick, quick)
                     + "  - name: cancellation\n    pattern: {\"detail-type\": [\"BookingCancelled\"]}\n"
                       "    target: notification\n    dead-letter-queue: dlq\n"
                       "    retry-policy: {maximum-event-age: 60}\n";
  body = std::regex_replace(body, std::regex("(name: seat, pattern: [^}]*\\}, target: seat, dead-letter-queue: dlq)"),
                            "$1, retry-policy: {maximum-event-age: 60, backoff-base: 5, backoff-cap: 10}");
  cluster c({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
             {"notification", {"notification"}}, {"dlq", {"dlq"}}},
            body);
  for (const auto* n : {"booking", "payment", "seat", "ticket", "dlq"})
    c.start_node(n);
  for (const auto* n : {"booking", "payment", "seat", "ticket", "dlq"})
    ASSERT_TRUE(c.node_answers(n, 10s)) << n;
  // One booking paid (then stuck at seat), one declined (then cancelled).
  wire::client client(c.control("booking"), c.curve("booking"));
  wire::control_request req;
  req.verb = "put";
  for (const char* card : {"4111111111111111", "4000000000000002"}) {
    std::string detail;
    json::to_msgpack(json{{"customer", card}, {"email", "x@example.com"}, {"flight", "BIG"},
                          {"seat_preference", "any"}, {"amount", 100}, {"card", card}},
                     detail);
    req.entries.push_back({"test", "BookingRequested", detail, "", {}, {}});
  }
  auto rep = client.call(req, 10s);
  ASSERT_TRUE(rep && rep->ok);

  auto letters = wait_for_letters(c, 2, 120s);
  ASSERT_EQ(letters.size(), 2u) << c.node_output("booking") << c.node_output("seat");
  std::map<std::string, json> by_rule;
  for (const auto& l : letters)
    by_rule[l["RULE_ARN"]] = l;
  const auto& seat = by_rule["seat"];
  EXPECT_EQ(seat["NODE"], "seat");
  EXPECT_EQ(seat["ERROR_CODE"], "HANDLER_ERROR");
  EXPECT_EQ(seat["EXHAUSTED_RETRY_CONDITION"], "MaximumEventAgeInSeconds");
  EXPECT_GE(seat["RETRY_ATTEMPTS"].get<int>(), 4);  // backoff at most 10 s: at least 5 tries in 60 s
  EXPECT_GE(seat["LAST_ATTEMPT_MS"].get<std::int64_t>() - seat["event"]["time_ms"].get<std::int64_t>(), 50000);
  const auto& mail = by_rule["cancellation"];
  EXPECT_EQ(mail["NODE"], "notification");
  EXPECT_EQ(mail["TARGET_ARN"], "notification");
  EXPECT_EQ(mail["ERROR_CODE"], "MAX_EVENT_AGE");
  EXPECT_EQ(mail["EXHAUSTED_RETRY_CONDITION"], "MaximumEventAgeInSeconds");
  EXPECT_EQ(mail["event"]["detail-type"], "BookingCancelled");
}

} // namespace
} // namespace troupe::test
