// The attacks that worked against the open cluster, repeated against the
// keyed flight cluster: forged events put by anyone, the DLQ managed by
// anyone, an outbox read by anyone, a node impersonated on its peers'
// control sockets, acks forged to prune what a consumer has not taken, a
// rogue publisher on a stopped node's endpoint, a node's key publishing
// another node's detail-types, a subscriber with an unknown key, and nodes
// started with a secret key that is not safe or not theirs. Each must
// change nothing, and be counted by the node it reached.
#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "launcher/common.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"
#include "wire/control.hpp"
#include "wire/endpoint.hpp"
#include "wire/envelope.hpp"
#include "wire/stream.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const char* const flight_yaml = "configs/flight.yaml";
const std::vector<std::string> flight_nodes = {"booking", "payment", "seat", "ticket", "notification", "dlq"};

std::string msgpack(const json& j) {
  std::string out;
  json::to_msgpack(j, out);
  return out;
}

/// Every field a booking's events carry, for booking `id` at 9999: enough
/// for each service downstream to act on it, had it been let in.
json forged_detail(const std::string& id) {
  return {{"booking_id", id},        {"customer", "Mallory"},  {"email", "mallory@example.com"},
          {"flight", "TR100"},       {"seat_preference", "any"}, {"amount", 9999},
          {"card", "4111111111111111"}, {"payment_id", "PAY-" + id}, {"seat", "1A"},
          {"ticket", "TRP-0000000999"}};
}

/// `node`'s status; an empty object (and a failure) when it does not answer.
json status_of(const troupe::cluster::config& cfg, const std::string& node) {
  auto s = cli::status(cfg, *cfg.find_node(node), 5s);
  EXPECT_TRUE(s) << node << ": " << s.err().to_string();
  return s ? *s : json::object();
}

/// A counter of `node`'s status: `section` is "wire" or "bus".
std::uint64_t counter(const troupe::cluster::config& cfg, const std::string& node, const char* section,
                      const char* name) {
  return status_of(cfg, node).value(section, json::object()).value(name, std::uint64_t{0});
}

/// PutEvents of `entries` on `node`'s control socket as client `who`: the
/// answer of each entry, or none when the call failed.
std::vector<wire::put_result> put_as(const cluster& c, const std::string& node, const std::string& who,
                                     std::vector<wire::put_entry> entries) {
  wire::client client(c.control(node), c.curve(node, who));
  wire::control_request req;
  req.verb = "put";
  req.entries = std::move(entries);
  auto rep = client.call(req, 10s);
  EXPECT_TRUE(rep && rep->ok) << (rep ? rep->body : rep.err().to_string());
  return rep && rep->ok ? rep->results : std::vector<wire::put_result>{};
}

/// A real booking on TR100, put by the shop as its front end would; its id
/// (empty when it was not taken).
std::string book_one(const cluster& c, const std::string& customer) {
  auto r = put_as(c, "booking", "shop",
                  {{"troupe.client", "BookingRequested",
                    msgpack({{"customer", customer}, {"email", "guest@example.com"}, {"flight", "TR100"},
                             {"seat_preference", "any"}, {"amount", 120}, {"card", "4111111111111111"}}),
                    "", {}, {}}});
  return r.size() == 1 ? r[0].id : std::string();
}

/// The rows of `service`'s query `what` that name booking `id`.
std::size_t rows_naming(const troupe::cluster::config& cfg, const std::string& service, const std::string& what,
                        const std::string& id) {
  auto rows = cli::query(cfg, service, what, json::object(), 5s);
  EXPECT_TRUE(rows) << service << " " << what << ": " << rows.err().to_string();
  std::size_t n = 0;
  if (rows)
    for (const auto& r : *rows)
      n += r.value("booking_id", "") == id;
  return n;
}

/// Whether any message in the Maildir under `dir` mentions `text`.
bool mailed(const std::filesystem::path& dir, const std::string& text) {
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != decltype(it)(); it.increment(ec))
    if (it->is_regular_file()) {
      std::ifstream in(it->path());
      std::stringstream ss;
      ss << in.rdbuf();
      if (ss.str().find(text) != std::string::npos)
        return true;
    }
  return false;
}

/// `troupe audit CONFIG --wait 30` on the running cluster.
run_result audit(const cluster& c) {
  return run_command({troupe_bin(), "audit", c.config_path(), "--wait", "30"}, 60s);
}

// -- the test's own sockets ------------------------------------------------------

/// A socket of the test's own: with `own`, a CURVE client that knows its
/// server by the public key `server`; without, no CURVE at all.
zmq::socket_t raw_socket(zmq::context_t& ctx, zmq::socket_type type, const std::optional<wire::key_pair>& own,
                         const std::string& server = "") {
  zmq::socket_t s(ctx, type);
  s.set(zmq::sockopt::linger, 0);
  if (own) {
    s.set(zmq::sockopt::curve_serverkey, server);
    s.set(zmq::sockopt::curve_publickey, own->public_key);
    s.set(zmq::sockopt::curve_secretkey, own->secret_key);
  }
  return s;
}

/// The last frame of the next message on `s`, if one comes within `timeout`.
std::optional<std::string> next_message(zmq::socket_t& s, std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::max(timeout, std::chrono::milliseconds(0))) <= 0)
    return std::nullopt;
  std::vector<zmq::message_t> parts;
  if (!zmq::recv_multipart(s, std::back_inserter(parts), zmq::recv_flags::dontwait) || parts.empty())
    return std::nullopt;
  return parts.back().to_string();
}

/// A request on a DEALER, framed as a node's control socket takes it.
void send_request(zmq::socket_t& dealer, const std::string& body) {
  dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
  dealer.send(zmq::buffer(body), zmq::send_flags::none);
}

/// What a status request sent behind other requests on one connection
/// brings back: its answer, taken after the node handled everything sent
/// before it (so its counters count them), and anything else that arrived
/// before it or in a moment after.
struct sentinel {
  std::optional<json> status;
  std::vector<std::string> others;

  std::uint64_t bus(const char* counter) const {
    return status ? status->at("bus").value(counter, std::uint64_t{0}) : 0;
  }
};

sentinel through_status(zmq::socket_t& dealer, std::chrono::milliseconds timeout) {
  wire::control_request req;
  req.verb = "status";
  send_request(dealer, wire::encode(req));
  sentinel got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (auto m = next_message(dealer, got.status ? std::chrono::milliseconds(300)
                                                  : std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        deadline - std::chrono::steady_clock::now()))) {
    auto rep = wire::decode_reply(*m, "status");
    if (rep && rep->ok && !got.status)
      got.status = json::parse(rep->body);
    else
      got.others.push_back(*m);
  }
  return got;
}

/// A publisher bound where a stopped node's PUB was, with `secret` as a
/// CURVE server or with no CURVE at all; its monitor counts the handshakes
/// that reach it.
class rogue_publisher {
 public:
  rogue_publisher(zmq::context_t& ctx, const std::string& endpoint, const std::optional<std::string>& secret)
      : pub_(ctx, zmq::socket_type::pub), monitor_(ctx, zmq::socket_type::pair) {
    pub_.set(zmq::sockopt::linger, 0);
    if (secret) {
      pub_.set(zmq::sockopt::curve_server, 1);
      pub_.set(zmq::sockopt::curve_secretkey, *secret);
    }
    const auto addr = "inproc://rogue-monitor-" + std::to_string(reinterpret_cast<std::uintptr_t>(this));
    if (zmq_socket_monitor(pub_.handle(), addr.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        != 0)
      throw zmq::error_t();
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(addr);
    pub_.bind(endpoint);
  }
  ~rogue_publisher() { zmq_socket_monitor(pub_.handle(), nullptr, 0); }

  void publish(const wire::envelope& e) {
    std::string bytes;
    ASSERT_TRUE(wire::encode(e, bytes));
    pub_.send(zmq::buffer(wire::topic_of(e.detail_type)), zmq::send_flags::sndmore);
    pub_.send(zmq::buffer(bytes), zmq::send_flags::none);
  }

  void heartbeat(const wire::heartbeat& hb) {
    pub_.send(zmq::buffer(wire::heartbeat_topic), zmq::send_flags::sndmore);
    pub_.send(zmq::buffer(wire::encode(hb)), zmq::send_flags::none);
  }

  /// Handshakes that completed and that failed so far.
  std::pair<int, int> handshakes() {
    for (;;) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(monitor_, std::back_inserter(parts), zmq::recv_flags::dontwait))
        break;
      std::uint16_t event = 0;
      if (parts.empty() || parts[0].size() < sizeof event)
        continue;
      std::memcpy(&event, parts[0].data(), sizeof event);
      ++(event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? succeeded_ : failed_);
    }
    return {succeeded_, failed_};
  }

 private:
  zmq::socket_t pub_, monitor_;
  int succeeded_ = 0, failed_ = 0;
};

/// An event of `origin`'s stream `type` at `epoch`/`seq`, about booking `id`.
wire::envelope event_of(const std::string& origin, const std::string& source, const std::string& type,
                        std::uint64_t epoch, std::uint64_t seq, const std::string& id) {
  wire::envelope e;
  e.id = wire::make_uuid();
  e.source = source;
  e.detail_type = type;
  e.time_ms = wire::now_ms();
  e.origin = origin;
  e.epoch = epoch;
  e.seq = seq;
  e.correlation_id = id;
  e.detail = msgpack(forged_detail(id));
  return e;
}

/// What `node`'s store holds of its stream `stream`, read while it runs:
/// the seqs still in its outbox, and how far `peer`'s acks reach.
struct outbox_view {
  std::vector<std::int64_t> seqs;
  std::int64_t acked = 0;
};

outbox_view outbox_of(const cluster& c, const std::string& node, const std::string& stream, const std::string& peer) {
  outbox_view v;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2((c.node_data_dir(node) / "node.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << node << "'s store";
    sqlite3_close(db);
    return v;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT seq FROM outbox WHERE stream = ?1 ORDER BY seq", -1, &s, nullptr);
  sqlite3_bind_text(s, 1, stream.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(s) == SQLITE_ROW)
    v.seqs.push_back(sqlite3_column_int64(s, 0));
  sqlite3_finalize(s);
  sqlite3_prepare_v2(db, "SELECT seq FROM acks WHERE peer = ?1 AND stream = ?2", -1, &s, nullptr);
  sqlite3_bind_text(s, 1, peer.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 2, stream.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(s) == SQLITE_ROW)
    v.acked = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

/// Starts every node of the flight cluster by itself, so that the test
/// can stop one and take its place; waits until all are connected.
std::optional<troupe::cluster::config> start_nodes(cluster& c) {
  for (const auto& n : flight_nodes)
    c.start_node(n);
  auto cfg = cli::load_config(c.config_path());
  if (!cfg)
    return std::nullopt;
  if (auto r = cli::wait_ready(*cfg, 30s); !r) {
    ADD_FAILURE() << r.err().message;
    return std::nullopt;
  }
  return cfg;
}

// -- 1 and 2: clients -------------------------------------------------------------

TEST(security, forged_events_and_dlq_commands_are_refused_and_counted_where_they_arrive) {
  cluster c(shipped{flight_yaml, "", "", ""});
  const auto mallory = c.stranger_keys("mallory");
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto forged = [](const std::string& source, const std::string& type, const std::string& id) {
    return wire::put_entry{source, type, msgpack(forged_detail(id)), id, {}, {}};
  };
  std::vector<std::string> forged_ids;

  // Anonymous, and with a key the config does not list: no connection, so
  // no answer, and the node counts the refusal.
  {
    const auto refused = counter(*cfg, "payment", "wire", "refused");
    wire::control_request req;
    req.verb = "put";
    req.entries = {forged("troupe.booking", "BookingCreated", "B-FORGED-ANON")};
    wire::client anon(c.control("payment"));
    auto rep = anon.call(req, 2s);
    ASSERT_FALSE(rep);
    EXPECT_EQ(rep.err().code, wire::errc::io) << rep.err().to_string();
    EXPECT_TRUE(wait_until([&] { return counter(*cfg, "payment", "wire", "refused") > refused; }, 5s))
        << "an anonymous connection was not counted";

    const auto before = counter(*cfg, "payment", "wire", "refused");
    req.entries = {forged("troupe.booking", "BookingCreated", "B-FORGED-STRANGER")};
    wire::client strange(c.control("payment"), wire::curve_client{mallory, c.keys_of("payment").public_key});
    rep = strange.call(req, 2s);
    ASSERT_FALSE(rep);
    EXPECT_EQ(rep.err().code, wire::errc::unauthorized) << rep.err().to_string();
    EXPECT_GT(counter(*cfg, "payment", "wire", "refused"), before);
    forged_ids.insert(forged_ids.end(), {"B-FORGED-ANON", "B-FORGED-STRANGER"});
  }

  // Admitted producers putting what only a service emits.
  struct forgery {
    const char* name;
    std::string node, client, source, type;
  };
  const std::vector<forgery> forgeries = {
      {"BookingCreated to payment, to be charged", "payment", "tester", "troupe.booking", "BookingCreated"},
      {"BookingCreated to payment, from the shop", "payment", "shop", "troupe.client", "BookingCreated"},
      {"BookingCreated to booking, to be published", "booking", "tester", "troupe.booking", "BookingCreated"},
      {"SeatAssigned to seat, for a ticket", "seat", "tester", "troupe.seat", "SeatAssigned"},
      {"TicketIssued to ticket, for a mail", "ticket", "tester", "troupe.ticket", "TicketIssued"},
  };
  std::map<std::string, std::uint64_t> refused_before, refused_expected;
  for (const auto& n : {"payment", "booking", "seat", "ticket"})
    refused_before[n] = counter(*cfg, n, "bus", "access_refused");
  for (std::size_t i = 0; i < forgeries.size(); ++i) {
    const auto& f = forgeries[i];
    SCOPED_TRACE(f.name);
    const auto id = "B-FORGED-" + std::to_string(i);
    forged_ids.push_back(id);
    auto r = put_as(c, f.node, f.client, {forged(f.source, f.type, id)});
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].id.empty());
    EXPECT_EQ(r[0].error_code, "NotAuthorizedForDetailTypeException") << r[0].error();
    ++refused_expected[f.node];
  }
  for (const auto& [node, n] : refused_expected)
    EXPECT_EQ(counter(*cfg, node, "bus", "access_refused") - refused_before[node], n) << node;

  // A real booking goes the whole way, to its confirmation mail: anything
  // forged before it would have been charged, seated and mailed by then.
  const auto real = book_one(c, "Ada Real");
  ASSERT_FALSE(real.empty());
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, {real}, 30s, rows)) << rows.dump();
  ASSERT_TRUE(wait_until([&] { return rows_naming(*cfg, "notification", "emails", real) == 1; }, 30s));
  ASSERT_TRUE(mailed(c.dir() / "mail", real));
  for (const auto& id : forged_ids) {
    SCOPED_TRACE(id);
    EXPECT_EQ(rows_naming(*cfg, "payment", "payments", id), 0u);
    EXPECT_EQ(rows_naming(*cfg, "seat", "seats", id), 0u);
    EXPECT_EQ(rows_naming(*cfg, "ticket", "tickets", id), 0u);
    EXPECT_EQ(rows_naming(*cfg, "notification", "emails", id), 0u);
    EXPECT_FALSE(mailed(c.dir() / "mail", id));
  }
  auto payments = cli::query(*cfg, "payment", "payments", json::object(), 5s);
  ASSERT_TRUE(payments);
  EXPECT_EQ(payments->size(), 1u) << payments->dump();

  // A dead letter: a booking whose email would smuggle a header in.
  auto bad = run_command({troupe_bin(), "book", c.config_path(), "--customer", "Eve", "--email",
                          "eve@example.com\r\nBcc: all@example.com", "--flight", "TR100", "--wait", "20"},
                         60s);
  ASSERT_EQ(bad.code, 1) << bad.output;
  ASSERT_NE(bad.output.find("DEAD-LETTERED"), std::string::npos) << bad.output;
  std::vector<json> letters;
  ASSERT_TRUE(wait_until([&] { return (letters = dlq_json(c, {"list"})).size() == 1; }, 20s));

  // A reader may list it, not purge or redrive it.
  const auto dlq_refused = counter(*cfg, "dlq", "bus", "access_refused");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"purge", c.config_path(), letters[0]["id"].get<std::string>()},
        std::vector<std::string>{"redrive", c.config_path(), "--all"}}) {
    SCOPED_TRACE(args[0]);
    std::vector<std::string> argv{troupe_bin(), "--client", "auditor", "dlq"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, 60s);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_NE(r.output.find("client 'auditor' lacks the role"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("'operator'"), std::string::npos) << r.output;
  }
  EXPECT_EQ(counter(*cfg, "dlq", "bus", "access_refused") - dlq_refused, 2u);
  auto after = dlq_json(c, {"list"});
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0], letters[0]);
  // The operator may.
  auto purged = run_command({troupe_bin(), "--client", "ops", "dlq", "purge", c.config_path(),
                             letters[0]["id"].get<std::string>()},
                            60s);
  EXPECT_EQ(purged.code, 0) << purged.output;
  EXPECT_TRUE(dlq_json(c, {"list"}).empty());

  // A stranger cannot even list it.
  {
    const auto before = counter(*cfg, "dlq", "wire", "refused");
    wire::control_request req;
    req.verb = "query";
    req.service = "dlq";
    req.what = "list";
    req.args = "{}";
    wire::client strange(c.control("dlq"), wire::curve_client{mallory, c.keys_of("dlq").public_key});
    auto rep = strange.call(req, 2s);
    ASSERT_FALSE(rep) << rep->body;
    EXPECT_EQ(rep.err().code, wire::errc::unauthorized) << rep.err().to_string();
    EXPECT_GT(counter(*cfg, "dlq", "wire", "refused"), before);
  }

  auto a = audit(c);
  EXPECT_EQ(a.code, 0) << a.output;
  EXPECT_EQ(c.stop(), 0);
}

// -- 3, 4 and 5: peers' requests from those who are not that peer -------------------

TEST(security, outbox_reads_acks_and_a_peers_routing_id_from_clients_are_forged) {
  cluster c(shipped{flight_yaml, "", "", ""});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  const auto epoch = status_of(*cfg, "booking").value("epoch", std::uint64_t{0});
  ASSERT_GT(epoch, 0u);
  const auto booking_key = c.keys_of("booking").public_key;
  const auto tester = c.keys_of("tester");
  zmq::context_t ctx;
  const auto forged0 = counter(*cfg, "booking", "bus", "forged");

  // Booking's heartbeats, heard with a node's key: each one is published
  // after a tick that pruned what had been acked before it.
  auto beats = raw_socket(ctx, zmq::socket_type::sub, c.keys_of("dlq"), booking_key);
  beats.set(zmq::sockopt::subscribe, wire::heartbeat_topic);
  beats.connect(cfg->find_node("booking")->pub);
  ASSERT_TRUE(next_message(beats, 10s));

  // A client's requests between two status requests of its own: the
  // second's counters against the first's say what booking made of them.
  const auto between = [&](zmq::socket_t& d, const std::vector<std::string>& requests) {
    const auto before = through_status(d, 10s);
    EXPECT_TRUE(before.status && before.others.empty());
    for (const auto& r : requests)
      send_request(d, r);
    const auto after = through_status(d, 10s);
    EXPECT_TRUE(after.status);
    EXPECT_TRUE(after.others.empty()) << after.others.size() << " answers besides the status, the first "
                                      << wire::peer_verb(after.others.at(0));
    EXPECT_EQ(after.bus("forged") - before.bus("forged"), requests.size());
    EXPECT_EQ(after.bus("replays_served"), before.bus("replays_served")) << "booking read its outbox for a client";
  };

  // 4. A DEALER named "payment" with the tester's key asks for payment's
  //    replay; the real payment keeps working.
  {
    auto d = raw_socket(ctx, zmq::socket_type::dealer, tester, booking_key);
    d.set(zmq::sockopt::routing_id, "payment");
    d.connect(c.control("booking"));
    between(d, {wire::encode(wire::replay_request{"payment", "BookingCreated", epoch, 1, 100})});
  }
  const auto first = book_one(c, "First");
  ASSERT_FALSE(first.empty());
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, {first}, 30s, rows)) << rows.dump();

  // Payment stops taking events once it has acked the first: booking
  // keeps the next two for it.
  ASSERT_TRUE(wait_until([&] { return outbox_of(c, "booking", "BookingCreated", "payment").seqs.empty(); }, 10s));
  const auto payment = pid_of(c, "payment");
  ASSERT_GT(payment, 0);
  ::kill(payment, SIGSTOP);
  const std::vector<std::string> held_ids = {book_one(c, "Held A"), book_one(c, "Held B")};
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = cli::query(*cfg, "booking", "bookings", json{{"ids", held_ids}}, 5s);
        return r && r->size() == 2;
      },
      20s));
  const auto held = outbox_of(c, "booking", "BookingCreated", "payment").seqs;
  ASSERT_EQ(held.size(), 2u);

  // 3. A client reads booking's outbox, claiming to be payment and as
  //    itself; then with no key at all.
  {
    auto d = raw_socket(ctx, zmq::socket_type::dealer, tester, booking_key);
    d.connect(c.control("booking"));
    between(d, {wire::encode(wire::replay_request{"payment", "BookingCreated", epoch, 1, 100}),
                wire::encode(wire::replay_request{"tester", "BookingCreated", epoch, 1, 100})});
  }
  {
    const auto refused = counter(*cfg, "booking", "wire", "refused");
    auto d = raw_socket(ctx, zmq::socket_type::dealer, std::nullopt);
    d.connect(c.control("booking"));
    send_request(d, wire::encode(wire::replay_request{"payment", "BookingCreated", epoch, 1, 100}));
    const auto got = through_status(d, 1s);
    EXPECT_FALSE(got.status);
    EXPECT_TRUE(got.others.empty());
    EXPECT_TRUE(wait_until([&] { return counter(*cfg, "booking", "wire", "refused") > refused; }, 5s))
        << "an anonymous connection was not counted";
  }

  // 5. The tester acks all of payment's stream, far ahead.
  {
    auto d = raw_socket(ctx, zmq::socket_type::dealer, tester, booking_key);
    d.connect(c.control("booking"));
    between(d, {wire::encode(wire::ack{"payment", {{"BookingCreated", epoch, 1000000}}})});
  }
  EXPECT_EQ(counter(*cfg, "booking", "bus", "forged") - forged0, 4u);
  // Two heartbeats later, every tick since the ack has pruned what it could.
  while (next_message(beats, 0ms)) {
  }
  ASSERT_TRUE(next_message(beats, 5s));
  ASSERT_TRUE(next_message(beats, 5s));
  const auto kept = outbox_of(c, "booking", "BookingCreated", "payment");
  EXPECT_EQ(kept.seqs, held) << "booking pruned events payment has not acked";
  EXPECT_LT(kept.acked, held.front());

  // Payment comes back and takes them.
  ::kill(payment, SIGCONT);
  ASSERT_TRUE(wait_confirmed(*cfg, held_ids, 30s, rows)) << rows.dump();
  auto a = audit(c);
  EXPECT_EQ(a.code, 0) << a.output;
  EXPECT_EQ(c.stop(), 0);
}

// -- 6 and 8: publishers and subscribers without the key ------------------------------

TEST(security, a_rogue_publisher_in_a_stopped_nodes_place_and_a_stranger_subscriber_hear_nothing) {
  cluster c(shipped{flight_yaml, "", "", ""});
  const auto mallory = c.stranger_keys("mallory");
  const auto listener = c.stranger_keys("listener");
  auto cfg = start_nodes(c);
  ASSERT_TRUE(cfg);
  std::vector<std::string> ids = {book_one(c, "Warm Up")};
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, ids, 30s, rows)) << rows.dump();
  const auto payment_epoch = status_of(*cfg, "payment").value("epoch", std::uint64_t{0});
  c.signal_node("payment", SIGTERM);
  ASSERT_EQ(c.wait_node("payment"), 0);
  std::map<std::string, json> before;
  for (const auto& n : {"booking", "seat"})
    before[n] = status_of(*cfg, n);

  // 6. In payment's place: a PUB without CURVE, then one with a key that
  //    is not payment's. Each says payment confirmed a booking nobody
  //    made, as payment's next event and as a far later incarnation's.
  for (const auto& as : {std::optional<wire::key_pair>(), std::optional<wire::key_pair>(mallory)}) {
    SCOPED_TRACE(as ? "a CURVE server with a stranger's key" : "no CURVE");
    zmq::context_t ctx;
    rogue_publisher rogue(ctx, cfg->find_node("payment")->pub,
                          as ? std::optional<std::string>(as->secret_key) : std::nullopt);
    // The test's own subscriber speaks the rogue's language: it hears it.
    auto own = raw_socket(ctx, zmq::socket_type::sub, as ? std::optional<wire::key_pair>(listener) : std::nullopt,
                          as ? as->public_key : "");
    own.set(zmq::sockopt::subscribe, "");
    own.connect(cfg->find_node("payment")->pub);
    std::size_t heard = 0;
    std::pair<int, int> shakes;
    ASSERT_TRUE(wait_until(
        [&] {
          rogue.publish(event_of("payment", "troupe.payment", "PaymentConfirmed", payment_epoch, 2, "B-ROGUE"));
          rogue.publish(event_of("payment", "troupe.payment", "PaymentConfirmed", std::uint64_t{1} << 62, 1,
                                 "B-ROGUE"));
          rogue.heartbeat({"payment", std::uint64_t{1} << 62, {{"PaymentConfirmed", 1}}});
          while (next_message(own, 0ms))
            ++heard;
          shakes = rogue.handshakes();
          // Five nodes subscribe to payment and retry every few hundred ms.
          return heard > 0 && shakes.second >= 10;
        },
        20s))
        << heard << " heard, " << shakes.first << " handshakes completed, " << shakes.second << " failed";
    EXPECT_EQ(rogue.handshakes().first, 1) << "a node completed a handshake with the rogue";
  }
  for (const auto& n : {"booking", "seat"}) {
    const auto now = status_of(*cfg, n);
    EXPECT_EQ(now.at("wire").at("received"), before[n].at("wire").at("received")) << n;
    EXPECT_EQ(now.at("bus").at("stale"), before[n].at("bus").at("stale")) << n;
  }

  // 8. Subscribers to booking with a stranger's key, a client's key and no
  //    key are refused; one with a node's key (payment's, stopped) hears
  //    the bookings made meanwhile.
  {
    zmq::context_t ctx;
    const auto booking_key = c.keys_of("booking").public_key;
    std::vector<zmq::socket_t> strangers;
    for (const auto& key : {std::optional<wire::key_pair>(mallory), std::optional<wire::key_pair>(c.keys_of("tester")),
                            std::optional<wire::key_pair>()}) {
      SCOPED_TRACE(!key ? "no key" : key->public_key == mallory.public_key ? "a stranger's key" : "a client's key");
      const auto refused = counter(*cfg, "booking", "wire", "refused");
      strangers.push_back(raw_socket(ctx, zmq::socket_type::sub, key, booking_key));
      strangers.back().set(zmq::sockopt::subscribe, "");
      strangers.back().connect(cfg->find_node("booking")->pub);
      EXPECT_TRUE(wait_until([&] { return counter(*cfg, "booking", "wire", "refused") > refused; }, 10s));
    }
    auto node = raw_socket(ctx, zmq::socket_type::sub, c.keys_of("payment"), booking_key);
    node.set(zmq::sockopt::subscribe, wire::topic_of("BookingCreated"));
    node.connect(cfg->find_node("booking")->pub);
    // Until its subscription has arrived, a booking's event may pass it by.
    ASSERT_TRUE(wait_until(
        [&] {
          ids.push_back(book_one(c, "Sentinel"));
          return next_message(node, 1s).has_value();
        },
        20s));
    for (auto& s : strangers)
      EXPECT_FALSE(next_message(s, 0ms)) << "a subscriber without a node's key heard booking";
  }

  // Payment comes back: what it confirms is taken, as payment's next
  // events, and the bookings made meanwhile go the whole way.
  c.start_node("payment");
  ASSERT_TRUE(c.node_answers("payment", 10s));
  ids.push_back(book_one(c, "After"));
  ASSERT_TRUE(wait_confirmed(*cfg, ids, 30s, rows)) << rows.dump();
  EXPECT_EQ(rows_naming(*cfg, "seat", "seats", "B-ROGUE"), 0u);
  for (const auto& n : {"booking", "seat"}) {
    const auto now = status_of(*cfg, n);
    EXPECT_EQ(now.at("bus").at("stale"), before[n].at("bus").at("stale")) << n;
    EXPECT_EQ(now.at("bus").at("duplicates"), before[n].at("bus").at("duplicates")) << n;
  }
  auto a = audit(c);
  EXPECT_EQ(a.code, 0) << a.output;
}

// -- 7: a node's own key, misused ---------------------------------------------------

TEST(security, a_node_key_cannot_publish_another_nodes_detail_types) {
  cluster c(shipped{flight_yaml, "", "", ""});
  auto cfg = start_nodes(c);
  ASSERT_TRUE(cfg);
  const auto seat_epoch = status_of(*cfg, "seat").value("epoch", std::uint64_t{0});
  c.signal_node("seat", SIGTERM);
  ASSERT_EQ(c.wait_node("seat"), 0);
  // Seat's key in the wrong hands: its PUB, publishing a booking for
  // payment to charge and a ticket for booking and notification.
  const std::vector<std::string> receivers = {"payment", "booking", "notification"};
  std::map<std::string, std::uint64_t> forged0;
  for (const auto& n : receivers)
    forged0[n] = counter(*cfg, n, "bus", "forged");
  {
    zmq::context_t ctx;
    rogue_publisher rogue(ctx, cfg->find_node("seat")->pub, c.keys_of("seat").secret_key);
    EXPECT_TRUE(wait_until(
        [&] {
          rogue.publish(event_of("seat", "troupe.booking", "BookingCreated", seat_epoch, 1, "B-SEAT"));
          rogue.publish(event_of("seat", "troupe.ticket", "TicketIssued", seat_epoch, 1, "B-SEAT"));
          for (const auto& n : receivers)
            if (counter(*cfg, n, "bus", "forged") == forged0[n])
              return false;
          return true;
        },
        20s));
    EXPECT_GE(rogue.handshakes().first, 1) << "seat's key is a node's: the handshakes complete";
  }
  c.start_node("seat");
  ASSERT_TRUE(c.node_answers("seat", 10s));
  const auto real = book_one(c, "Real");
  json rows;
  ASSERT_TRUE(wait_confirmed(*cfg, {real}, 30s, rows)) << rows.dump();
  ASSERT_TRUE(wait_until([&] { return rows_naming(*cfg, "notification", "emails", real) == 1; }, 30s));
  EXPECT_EQ(rows_naming(*cfg, "payment", "payments", "B-SEAT"), 0u);
  EXPECT_EQ(rows_naming(*cfg, "notification", "emails", "B-SEAT"), 0u);
  EXPECT_FALSE(mailed(c.dir() / "mail", "B-SEAT"));
  auto a = audit(c);
  EXPECT_EQ(a.code, 0) << a.output;
}

// -- 9: a node's own secret key ------------------------------------------------------

TEST(security, a_node_refuses_a_secret_key_others_may_read_or_that_is_not_its_own) {
  cluster c(shipped{flight_yaml, "", "", ""});
  const auto other = c.stranger_keys("other");
  const auto key = c.dir() / "keys" / "booking.key";
  struct damage {
    const char* name;
    std::function<void()> apply;
    std::string says;
  };
  const std::vector<damage> cases = {
      {"readable by others", [&] { std::filesystem::permissions(key, std::filesystem::perms(0644)); },
       "(chmod 600 "},
      {"another pair's secret",
       [&] {
         std::filesystem::permissions(key, std::filesystem::perms(0600));
         std::ofstream(key, std::ios::trunc) << other.secret_key << "\n";
       },
       "is not the one of its public-key"},
  };
  for (const auto& d : cases) {
    SCOPED_TRACE(d.name);
    d.apply();
    auto r = run_command({troupe_bin(), "node", c.config_path(), "--node", "booking"}, 20s);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find(d.says), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(c.node_data_dir("booking") / "node.db")) << "the store was opened";
  }
}

} // namespace
} // namespace troupe::test
