// Nothing acknowledged is ever dropped, tried as a hostile tester would on
// a real cluster: entries at and over the size limit, PutEvents retried with
// idempotency keys across a node's restart, a booking that goes straight to
// the DLQ, acks for made-up streams, and an event in an origin's outbox
// that its consumer cannot decode.
#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>

#include <filesystem>
#include <zmq.hpp>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"
#include "wire/limits.hpp"
#include "wire/msgpack_io.hpp"
#include "wire/stream.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const char* rules = R"(rules:
  - {name: requests, pattern: {"detail-type": ["BookingRequested"]}, target: booking, dead-letter-queue: dlq}
  - {name: charge, pattern: {"source": ["troupe.booking"], "detail-type": ["BookingCreated"]}, target: payment, dead-letter-queue: dlq}
  - {name: seat, pattern: {"detail-type": ["PaymentConfirmed"]}, target: seat, dead-letter-queue: dlq}
  - {name: ticket, pattern: {"detail-type": ["SeatAssigned"]}, target: ticket, dead-letter-queue: dlq}
  - {name: outcomes, pattern: {"detail-type": ["TicketIssued", "PaymentFailed"]}, target: booking, dead-letter-queue: dlq}
  - {name: confirmation, pattern: {"detail-type": ["TicketIssued"]}, target: notification, dead-letter-queue: dlq}
)";

cluster flight_cluster() {
  return cluster({{"booking", {"booking"}}, {"payment", {"payment"}}, {"seat", {"seat"}}, {"ticket", {"ticket"}},
                  {"notification", {"notification"}}, {"dlq", {"dlq"}}},
                 std::string("supervision: {max-restarts: 100, within: 60, backoff-base: 0.05, backoff-cap: 0.2}")
                     + big_flight_services + rules);
}

std::string booking_detail(const std::string& customer, const std::string& email = "a@example.com") {
  std::string out;
  json::to_msgpack(json{{"customer", customer}, {"email", email}, {"flight", "BIG"}, {"seat_preference", "any"},
                        {"amount", 100}, {"card", "4111111111111111"}},
                   out);
  return out;
}

wire::control_request put_of(std::vector<wire::put_entry> entries) {
  wire::control_request req;
  req.verb = "put";
  req.entries = std::move(entries);
  return req;
}

json status_of(const troupe::cluster::config& cfg, const std::string& node) {
  auto s = cli::status(cfg, *cfg.find_node(node), 5s);
  return s ? *s : json::object();
}

TEST(acknowledged, an_entry_over_the_limit_gets_an_error_and_no_id_one_within_it_is_booked) {
  auto c = flight_cluster();
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  wire::client client(c.control("booking"), c.curve("booking"));
  const auto over = booking_detail(std::string(wire::max_entry_bytes, 'A'));
  auto rep = client.call(put_of({{"test", "BookingRequested", over, "", {}, {}},
                                 {"test", "BookingRequested", booking_detail("Small"), "", {}, {}}}),
                         10s);
  ASSERT_TRUE(rep && rep->ok) << (rep ? rep->body : rep.err().message);
  ASSERT_EQ(rep->results.size(), 2u);
  EXPECT_TRUE(rep->results[0].id.empty());
  EXPECT_EQ(rep->results[0].error_code, "InvalidArgument");
  EXPECT_NE(rep->results[0].error_message.find("at most 262144"), std::string::npos) << rep->results[0].error_message;
  EXPECT_TRUE(rep->results[1].ok());

  // 100,000 characters in the customer name, as a user types it: before one
  // limit its id was answered and the event dropped.
  auto r = run_command({troupe_bin(), "book", c.config_path(), "--customer", std::string(100000, 'A'), "--flight",
                        "BIG", "--wait", "30"},
                       60s);
  EXPECT_EQ(r.code, 0) << r.output.substr(0, 2000);
  EXPECT_NE(r.output.find("CONFIRMED"), std::string::npos) << r.output.substr(0, 2000);
  EXPECT_EQ(status_of(*cfg, "booking")["bus"].value("put_refused", 0), 1) << c.launcher_output();
  EXPECT_EQ(c.stop(), 0);
}

TEST(acknowledged, an_idempotency_key_answers_the_same_event_across_a_restart) {
  auto c = flight_cluster();
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto put = [&](const std::string& customer, const std::string& key) -> wire::put_result {
    wire::client client(c.control("booking"), c.curve("booking"));
    auto rep = client.call(put_of({{"test", "BookingRequested", booking_detail(customer), "", {}, key}}), 10s);
    EXPECT_TRUE(rep && rep->ok && rep->results.size() == 1);
    return rep && rep->ok && rep->results.size() == 1 ? rep->results[0] : wire::put_result{};
  };
  const auto first = put("Ada", "k-1");
  ASSERT_TRUE(first.ok()) << first.error();
  EXPECT_EQ(put("Ada", "k-1").id, first.id);  // from memory
  const auto other = put("Grace", "k-1");
  EXPECT_TRUE(other.id.empty());
  EXPECT_EQ(other.error_code, "IdempotencyKeyMismatch");

  // The booking node dies and comes back: the key is in its store.
  ASSERT_TRUE(wait_until([&] { return !put("Ada", "k-2").id.empty(); }, 10s));
  const auto pid = pid_of(c, "booking");
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGKILL);
  wire::put_result again;
  ASSERT_TRUE(wait_until(
      [&] {
        wire::client client(c.control("booking"), c.curve("booking"));
        auto rep = client.call(put_of({{"test", "BookingRequested", booking_detail("Ada"), "", {}, "k-1"}}), 1s);
        if (rep && rep->ok && rep->results.size() == 1)
          again = rep->results[0];
        return rep && rep->ok;
      },
      30s));
  EXPECT_EQ(again.id, first.id);
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, {first.id}, 30s, rows)) << rows.dump();
  // Exactly two bookings were made (k-1 and k-2), however often they were put.
  ASSERT_TRUE(wait_until(
      [&] {
        auto all = cli::query(*cfg, "booking", "bookings", json::object(), 5s);
        return all && all->size() == 2;
      },
      30s));
  EXPECT_EQ(c.stop(), 0);
}

TEST(acknowledged, troupe_book_reports_a_booking_that_went_to_the_dlq) {
  auto c = flight_cluster();
  c.start();
  auto r = run_command({troupe_bin(), "book", c.config_path(), "--email", "ada@example.com\r\nBcc: all@example.com",
                        "--flight", "BIG", "--wait", "20"},
                       60s);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("DEAD-LETTERED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PERMANENT_ERROR"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("PENDING"), std::string::npos) << r.output;
  EXPECT_EQ(c.stop(), 0);
}

TEST(acknowledged, acks_for_streams_the_config_does_not_give_are_refused_and_never_stored) {
  auto c = flight_cluster();
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  ASSERT_EQ(book(c, {"Before"}).size(), 1u);
  // Payment gone wrong (a DEALER with its key) acks three made-up 1 MB
  // streams, forty times.
  zmq::context_t ctx;
  zmq::socket_t d(ctx, zmq::socket_type::dealer);
  d.set(zmq::sockopt::linger, 0);
  d.set(zmq::sockopt::curve_serverkey, c.keys_of("booking").public_key);
  d.set(zmq::sockopt::curve_publickey, c.keys_of("payment").public_key);
  d.set(zmq::sockopt::curve_secretkey, c.keys_of("payment").secret_key);
  d.connect(c.control("booking"));
  for (int i = 0; i < 40; ++i) {
    wire::ack a{"payment", {}};
    for (int k = 0; k < 3; ++k)
      a.acks.push_back({std::string(1 << 20, static_cast<char>('a' + (i * 3 + k) % 26)) + std::to_string(i * 3 + k),
                        status_of(*cfg, "booking").value("epoch", std::uint64_t{0}), 1});
    const auto body = wire::encode(a);
    d.send(zmq::message_t(), zmq::send_flags::sndmore);
    d.send(zmq::buffer(body), zmq::send_flags::none);
  }
  ASSERT_TRUE(wait_until([&] { return status_of(*cfg, "booking")["bus"].value("bad_acks", 0) >= 120; }, 20s))
      << status_of(*cfg, "booking").dump();
  // Real acks keep flowing and are persisted; the made-up ones are not.
  ASSERT_EQ(book(c, {"After"}).size(), 1u);
  EXPECT_TRUE(c.node_answers("booking", 1s));
  EXPECT_EQ(c.stop(), 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((c.node_data_dir("booking") / "node.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*), coalesce(max(length(stream)), 0) FROM acks", -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_LT(sqlite3_column_int64(s, 1), 1000) << "a made-up stream was stored";
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST(acknowledged, an_event_its_consumer_cannot_decode_becomes_a_dead_letter_and_the_stream_moves_on) {
  auto c = flight_cluster();
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  // Payment is paused: booking keeps its BookingCreated events for it.
  const auto payment = pid_of(c, "payment");
  ASSERT_GT(payment, 0);
  ::kill(payment, SIGSTOP);
  const auto ids = book(c, {"First", "Second", "Third"});
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_TRUE(wait_until(
      [&] {
        auto rows = cli::query(*cfg, "booking", "bookings", json{{"ids", ids}}, 5s);
        return rows && rows->size() == 3;
      },
      20s));
  // The booking node stops; the first BookingCreated in its outbox is
  // damaged on disk (a later format, a bad sector: bytes nobody can read).
  c.stop(3s);  // the paused payment is killed after the grace
  ASSERT_FALSE(c.any_process_left());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((c.node_data_dir("booking") / "node.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db,
                           "UPDATE outbox SET bytes = X'9c02c1c1' WHERE k = (SELECT min(k) FROM outbox "
                           "WHERE stream = 'BookingCreated')",
                           nullptr, nullptr, &err),
              SQLITE_OK)
        << (err ? err : "");
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_close(db);
  }
  c.start();
  // The damaged event is a dead letter for the rule that would have taken
  // it; the two after it go through.
  auto rows = json::array();
  ASSERT_TRUE(wait_confirmed(*cfg, ids, 60s, rows, 2))
      << rows.dump() << "\n"
      << c.launcher_output().substr(0, 4000);
  auto letters = dlq_json(c, {"list", "--error-code", "UNDECODABLE_EVENT"});
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["RULE_ARN"], "charge");
  EXPECT_EQ(letters[0]["TARGET_ARN"], "payment");
  // It is not asked for again and again: one letter, a handful of replays,
  // counted after a sentinel booking has gone the whole way behind it on
  // the same streams (a replay loop would have gone on meanwhile).
  const auto sentinel = book(c, {"Fourth"});
  ASSERT_EQ(sentinel.size(), 1u);
  ASSERT_TRUE(wait_confirmed(*cfg, sentinel, 30s, rows)) << rows.dump();
  const auto st = status_of(*cfg, "payment");
  EXPECT_EQ(st["bus"].value("undecodable", 0), 1) << st.dump();
  EXPECT_LT(st["bus"].value("replays_asked", 0), 20) << st.dump();
  EXPECT_EQ(c.stop(), 0);
}

} // namespace
} // namespace troupe::test
