// CurveZMQ keys, the ZAP policy, and endpoints with CURVE on: only the
// keys a node admits get in, and what arrives names who sent it.
#include "wire/security.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "tests/support/support.hpp"
#include "wire/client.hpp"
#include "wire/endpoint.hpp"

namespace troupe::wire {
namespace {

using namespace std::chrono_literals;

unsigned mode_of(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

TEST(keys, a_pair_is_two_z85_keys_and_the_public_one_follows_from_the_secret) {
  auto k = make_key_pair();
  ASSERT_TRUE(k);
  EXPECT_TRUE(is_z85_key(k->public_key));
  EXPECT_TRUE(is_z85_key(k->secret_key));
  EXPECT_NE(k->public_key, k->secret_key);
  auto pub = public_of(k->secret_key);
  ASSERT_TRUE(pub);
  EXPECT_EQ(*pub, k->public_key);
  EXPECT_NE(make_key_pair()->public_key, k->public_key);
}

TEST(keys, text_that_is_not_a_key_is_told_apart) {
  for (const std::string& bad : std::vector<std::string>{"", "short", std::string(39, 'a'), std::string(41, 'a'),
                                std::string(39, 'a') + "\"", std::string(40, ' ')})
    EXPECT_FALSE(is_z85_key(bad)) << bad;
  EXPECT_FALSE(public_of("not a key"));
}

TEST(keys, the_secret_file_is_for_its_owner_alone_and_never_overwritten) {
  test::temp_dir dir;
  ::umask(022);
  auto k = make_key_pair();
  ASSERT_TRUE(write_key_pair(dir.path(), "booking", *k));
  EXPECT_EQ(mode_of(dir.path() / "booking.key"), 0600u);
  EXPECT_EQ(mode_of(dir.path() / "booking.pub"), 0644u);
  auto secret = read_secret_key(dir.path() / "booking.key");
  ASSERT_TRUE(secret) << secret.err().to_string();
  EXPECT_EQ(*secret, k->secret_key);
  std::string pub;
  std::getline(std::ifstream(dir.path() / "booking.pub"), pub);
  EXPECT_EQ(pub, k->public_key);

  auto again = write_key_pair(dir.path(), "booking", *make_key_pair());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.err().code, errc::io);
  EXPECT_EQ(*read_secret_key(dir.path() / "booking.key"), k->secret_key);  // untouched
}

TEST(keys, a_secret_key_others_may_read_is_refused_naming_the_fix) {
  test::temp_dir dir;
  ASSERT_TRUE(write_key_pair(dir.path(), "n", *make_key_pair()));
  const auto file = dir.path() / "n.key";
  for (unsigned mode : {0640u, 0604u, 0660u, 0644u}) {
    ::chmod(file.c_str(), mode);
    auto r = read_secret_key(file);
    ASSERT_FALSE(r) << std::oct << mode;
    EXPECT_EQ(r.err().code, errc::invalid_field);
    EXPECT_NE(r.err().message.find("chmod 600"), std::string::npos) << r.err().message;
  }
  ::chmod(file.c_str(), 0400);
  EXPECT_TRUE(read_secret_key(file));
}

TEST(keys, a_secret_file_without_a_key_or_missing_is_an_error) {
  test::temp_dir dir;
  const auto file = dir.path() / "bad.key";
  std::ofstream(file) << "hello\n";
  ::chmod(file.c_str(), 0600);
  auto r = read_secret_key(file);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::invalid_field);
  auto gone = read_secret_key(dir.path() / "absent.key");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.err().code, errc::io);
}

std::string raw(const std::string& z85) {
  std::string out(32, '\0');
  zmq_z85_decode(reinterpret_cast<std::uint8_t*>(out.data()), z85.c_str());
  return out;
}

TEST(zap, only_an_admitted_curve_key_on_its_domain_gets_in_and_is_named) {
  const auto node = *make_key_pair(), client = *make_key_pair(), stranger = *make_key_pair();
  zap_policy p;
  p.admit(pub_domain, node.public_key, "payment");
  p.admit(control_domain, node.public_key, "payment");
  p.admit(control_domain, client.public_key, "ops");
  struct row {
    const char* name;
    zap_request req;
    const char* code;
    const char* user;
  };
  const row rows[] = {
      {"node on pub", {"1.0", "1", pub_domain, "127.0.0.1", "", "CURVE", {raw(node.public_key)}}, "200", "payment"},
      {"node on control", {"1.0", "2", control_domain, "", "", "CURVE", {raw(node.public_key)}}, "200", "payment"},
      {"client on control", {"1.0", "3", control_domain, "", "", "CURVE", {raw(client.public_key)}}, "200", "ops"},
      {"client on pub", {"1.0", "4", pub_domain, "", "", "CURVE", {raw(client.public_key)}}, "400", ""},
      {"stranger", {"1.0", "5", control_domain, "", "", "CURVE", {raw(stranger.public_key)}}, "400", ""},
      {"NULL mechanism", {"1.0", "6", control_domain, "", "", "NULL", {}}, "400", ""},
      {"PLAIN", {"1.0", "7", control_domain, "", "", "PLAIN", {"payment", "x"}}, "400", ""},
      {"unknown domain", {"1.0", "8", "other", "", "", "CURVE", {raw(node.public_key)}}, "400", ""},
      {"short key", {"1.0", "9", control_domain, "", "", "CURVE", {"abc"}}, "400", ""},
      {"not ZAP 1.0", {"2.0", "10", control_domain, "", "", "CURVE", {raw(node.public_key)}}, "500", ""},
  };
  for (const auto& r : rows) {
    const auto reply = p.decide(r.req);
    EXPECT_EQ(reply.status_code, r.code) << r.name;
    EXPECT_EQ(reply.user_id, r.user) << r.name;
    EXPECT_EQ(reply.request_id, r.req.request_id) << r.name;
  }
}

TEST(zap, requests_parse_from_their_frames_and_replies_have_six) {
  EXPECT_FALSE(parse_zap_request({"1.0", "1", "d", "a", "i"}));
  auto r = parse_zap_request({"1.0", "7", "d", "addr", "id", "CURVE", "k"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request_id, "7");
  EXPECT_EQ(r->credentials, std::vector<std::string>{"k"});
  const auto frames = zap_reply_frames({"1.0", "7", "200", "OK", "ops"});
  EXPECT_EQ(frames, (std::vector<std::string>{"1.0", "7", "200", "OK", "ops", ""}));
}

/// Two endpoints with CURVE on: `b` subscribes to `a`, and `a` admits `b`
/// and the client `ops`.
struct curve_pair : ::testing::Test {
  key_pair ka = *make_key_pair(), kb = *make_key_pair(), ops = *make_key_pair(), stranger = *make_key_pair();
  std::string a_pub = test::free_endpoint(), a_ctl = test::free_endpoint();
  std::string b_pub = test::free_endpoint(), b_ctl = test::free_endpoint();
  std::mutex mtx;
  std::vector<std::pair<std::string, std::string>> requests;  // (user, body) at a
  std::size_t b_events = 0;
  std::unique_ptr<endpoint> a, b;

  endpoint_security security(const key_pair& own) {
    endpoint_security s{own, {}};
    for (const auto& [k, name] : {std::pair{ka, "a"}, {kb, "b"}}) {
      s.admitted.admit(pub_domain, k.public_key, name);
      s.admitted.admit(control_domain, k.public_key, name);
    }
    s.admitted.admit(control_domain, ops.public_key, "ops");
    return s;
  }

  void SetUp() override {
    endpoint_options oa;
    oa.node = "a";
    oa.pub_bind = a_pub;
    oa.control_bind = a_ctl;
    oa.security = security(ka);
    endpoint_handlers ha;
    ha.on_request = [this](std::string id, std::string user, std::string body) {
      std::lock_guard<std::mutex> lock(mtx);
      requests.emplace_back(user, body);
      a->reply(id, encode_reply({true, "{}", {}, {}}, "status"));
    };
    auto ra = endpoint::start(oa, ha);
    ASSERT_TRUE(ra) << ra.err().to_string();
    a = std::move(*ra);
    endpoint_options ob;
    ob.node = "b";
    ob.pub_bind = b_pub;
    ob.control_bind = b_ctl;
    ob.topics = {""};
    ob.peers.push_back({"a", a_pub, a_ctl, ka.public_key});
    ob.security = security(kb);
    endpoint_handlers hb;
    hb.on_events = [this](const std::string& from, std::vector<envelope> es) {
      std::lock_guard<std::mutex> lock(mtx);
      EXPECT_EQ(from, "a");
      b_events += es.size();
    };
    auto rb = endpoint::start(ob, hb);
    ASSERT_TRUE(rb) << rb.err().to_string();
    b = std::move(*rb);
    ASSERT_TRUE(test::wait_until([&] { return b->stats().peers_connected == 1; }, 5s));
  }

  std::string one_event(std::uint64_t seq) {
    envelope e;
    e.id = make_uuid();
    e.source = "test";
    e.detail_type = "Ping";
    e.origin = "a";
    e.epoch = 1;
    e.seq = seq;
    e.detail = "\x80";
    std::string out;
    EXPECT_TRUE(encode(e, out));
    return out;
  }
};

TEST_F(curve_pair, a_peer_with_the_servers_key_receives_and_a_stranger_receives_nothing) {
  // A SUB with a key `a` does not admit, and one with no key at all.
  zmq::context_t ctx;
  zmq::socket_t keyed(ctx, zmq::socket_type::sub), plain(ctx, zmq::socket_type::sub);
  keyed.set(zmq::sockopt::curve_serverkey, ka.public_key);
  keyed.set(zmq::sockopt::curve_publickey, stranger.public_key);
  keyed.set(zmq::sockopt::curve_secretkey, stranger.secret_key);
  for (auto* s : {&keyed, &plain}) {
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::subscribe, "");
    s->connect(a_pub);
  }
  ASSERT_TRUE(test::wait_until([&] { return a->stats().refused >= 1; }, 5s));
  // Sent until b has some, and then some more: the strangers had every chance.
  std::uint64_t seq = 0;
  ASSERT_TRUE(test::wait_until(
      [&] {
        a->publish(topic_of("Ping"), one_event(++seq));
        std::lock_guard<std::mutex> lock(mtx);
        return b_events >= 10;
      },
      5s));
  for (int i = 0; i < 50; ++i)
    a->publish(topic_of("Ping"), one_event(++seq));
  zmq::message_t m;
  for (auto* s : {&keyed, &plain}) {
    zmq::pollitem_t item{s->handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, 500ms), 0) << "a stranger's SUB got a frame";
  }
}

TEST_F(curve_pair, a_request_names_the_key_it_came_with_and_a_stranger_is_refused) {
  client ok(a_ctl, curve_client{ops, ka.public_key});
  control_request req;
  req.verb = "status";
  auto rep = ok.call(req, 5s);
  ASSERT_TRUE(rep) << rep.err().to_string();
  {
    std::lock_guard<std::mutex> lock(mtx);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].first, "ops");
  }
  client strange(a_ctl, curve_client{stranger, ka.public_key});
  auto no = strange.call(req, 2s);
  ASSERT_FALSE(no);
  EXPECT_EQ(no.err().code, errc::unauthorized) << no.err().to_string();
  EXPECT_FALSE(no.err().retryable());
  // A client without CURVE at all gets no answer either, and is counted.
  const auto refused_before = a->stats().refused.load();
  client plain(a_ctl);
  EXPECT_FALSE(plain.call(req, 1s));
  EXPECT_TRUE(test::wait_until([&] { return a->stats().refused > refused_before; }, 5s));
  // One that knows the wrong server key never gets through the handshake.
  client wrong_server(a_ctl, curve_client{ops, kb.public_key});
  EXPECT_FALSE(wrong_server.call(req, 1s));
  std::lock_guard<std::mutex> lock(mtx);
  EXPECT_EQ(requests.size(), 1u);
  EXPECT_GE(a->stats().refused, 1u);
}

TEST(curve_endpoint, a_node_without_its_peers_key_cannot_start_its_socket) {
  endpoint_options o;
  o.node = "x";
  o.pub_bind = test::free_endpoint();
  o.control_bind = test::free_endpoint();
  o.security = endpoint_security{*make_key_pair(), {}};
  o.peers.push_back({"y", test::free_endpoint(), "", "not a key"});
  auto r = endpoint::start(o, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, errc::io);
}

} // namespace
} // namespace troupe::wire
