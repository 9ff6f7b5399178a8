#include "wire/endpoint.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <zmq.hpp>

#include "tests/support/support.hpp"
#include "wire/client.hpp"
#include "wire/limits.hpp"
#include "wire/msgpack_io.hpp"

namespace troupe::wire {
namespace {

using namespace std::chrono_literals;

struct inbox {
  std::mutex mtx;
  std::vector<envelope> events;
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mtx);
    return events.size();
  }
};

envelope event(const std::string& type, std::uint64_t seq) {
  envelope e;
  e.id = make_uuid();
  e.source = "test";
  e.detail_type = type;
  e.origin = "a";
  e.epoch = 1;
  e.seq = seq;
  e.detail = "\x80";  // {}
  return e;
}

std::string bytes_of(const envelope& e) {
  std::string out;
  EXPECT_TRUE(encode(e, out));
  return out;
}

endpoint_options options(std::string node, std::string pub, std::string control, std::vector<std::string> peers,
                         std::vector<std::string> topics) {
  endpoint_options o;
  o.node = std::move(node);
  o.pub_bind = std::move(pub);
  o.control_bind = std::move(control);
  for (auto& p : peers)
    o.peers.push_back({p, p, "", ""});  // named by its endpoint
  o.topics = std::move(topics);
  return o;
}

struct pair_fixture : ::testing::Test {
  std::string a_pub = test::free_endpoint(), a_ctl = test::free_endpoint();
  std::string b_pub = test::free_endpoint(), b_ctl = test::free_endpoint();
  inbox b_in;
  std::unique_ptr<endpoint> a, b;

  void start(std::vector<std::string> b_topics, std::vector<std::string> extra_peers = {}) {
    auto ra = endpoint::start(options("a", a_pub, a_ctl, {b_pub}, {}), {});
    ASSERT_TRUE(ra) << ra.err().to_string();
    a = std::move(*ra);
    auto peers = extra_peers;
    peers.push_back(a_pub);
    endpoint_handlers h;
    h.on_events = [this](const std::string&, std::vector<envelope> es) {
      std::lock_guard<std::mutex> lock(b_in.mtx);
      for (auto& e : es)
        b_in.events.push_back(std::move(e));
    };
    h.on_request = [this](std::string id, std::string, std::string body) {
      auto req = decode_request(body);
      control_reply rep;
      rep.ok = static_cast<bool>(req);
      rep.body = req ? "pong:" + req->verb : req.err().to_string();
      b->reply(id, encode_reply(rep, req ? req->verb : ""));
    };
    auto rb = endpoint::start(options("b", b_pub, b_ctl, peers, b_topics), h);
    ASSERT_TRUE(rb) << rb.err().to_string();
    b = std::move(*rb);
    ASSERT_TRUE(test::wait_until([&] { return b->stats().peers_connected >= peers.size(); }, 5s));
  }

  // Publishes `e` until b has received `expect` events: the first messages
  // after a SUB connects may race its subscription (slow joiner).
  void publish_until(const envelope& first, std::size_t expect) {
    ASSERT_TRUE(test::wait_until(
        [&] {
          if (b_in.size() >= expect)
            return true;
          a->publish(topic_of(first.detail_type), bytes_of(first));
          std::this_thread::sleep_for(10ms);
          return b_in.size() >= expect;
        },
        5s));
  }
};

TEST_F(pair_fixture, delivers_subscribed_topics_only) {
  start({topic_of("Wanted")});
  publish_until(event("Wanted", 1), 1);
  const auto before = b_in.size();
  a->publish(topic_of("Unwanted"), bytes_of(event("Unwanted", 1)));
  a->publish(topic_of("WantedNot"), bytes_of(event("WantedNot", 1)));  // a prefix is not a match
  a->publish(topic_of("Wanted"), bytes_of(event("Wanted", 2)));
  ASSERT_TRUE(test::wait_until([&] { return b_in.size() >= before + 1; }, 5s));
  std::this_thread::sleep_for(50ms);  // give a wrong delivery the chance to show up
  std::lock_guard<std::mutex> lock(b_in.mtx);
  for (const auto& e : b_in.events)
    EXPECT_EQ(e.detail_type, "Wanted");
  EXPECT_EQ(b_in.events.back().seq, 2u);
}

TEST_F(pair_fixture, malformed_frames_are_counted_dropped_and_service_goes_on) {
  // A rogue publisher that b also listens to.
  zmq::context_t ctx;
  zmq::socket_t rogue(ctx, zmq::socket_type::pub);
  rogue.set(zmq::sockopt::linger, 0);
  const auto rogue_ep = test::free_endpoint();
  rogue.bind(rogue_ep);
  start({""}, {rogue_ep});
  publish_until(event("Ok", 1), 1);
  const std::vector<std::vector<std::string>> garbage = {
      {"Ok"},                                           // one frame
      {topic_of("Ok"), "\xc1\xc1\xc1"},                 // not MessagePack
      {topic_of("Ok"), "\x9c\x01\xdb\xff\xff\xff\xff"}, // length bomb
      {topic_of("Other"), bytes_of(event("Ok", 2))},    // topic does not match
      {topic_of("Ok"), bytes_of(event("Ok", 3)), "x"},  // three frames
  };
  ASSERT_TRUE(test::wait_until(
      [&] {
        for (const auto& frames : garbage) {
          for (std::size_t i = 0; i < frames.size(); ++i)
            rogue.send(zmq::buffer(frames[i]),
                       i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
        }
        std::this_thread::sleep_for(10ms);
        return b->stats().malformed >= garbage.size();
      },
      5s));
  const auto received = b_in.size();
  a->publish(topic_of("Ok"), bytes_of(event("Ok", 9)));
  ASSERT_TRUE(test::wait_until([&] { return b_in.size() > received; }, 5s));
  EXPECT_EQ(b_in.events.back().seq, 9u);
}

TEST_F(pair_fixture, a_connection_closed_for_an_oversized_frame_is_made_anew) {
  // libzmq ends a connection for good on a frame over ZMQ_MAXMSGSIZE; the
  // peer's later events must still arrive.
  zmq::context_t ctx;
  zmq::socket_t rogue(ctx, zmq::socket_type::pub);
  rogue.set(zmq::sockopt::linger, 0);
  const auto rogue_ep = test::free_endpoint();
  rogue.bind(rogue_ep);
  start({""}, {rogue_ep});
  const auto send = [&](const std::string& topic, const std::string& body) {
    rogue.send(zmq::buffer(topic), zmq::send_flags::sndmore);
    rogue.send(zmq::buffer(body), zmq::send_flags::none);
  };
  const auto arrives = [&](std::uint64_t seq) {
    return test::wait_until(
        [&] {
          send(topic_of("Ok"), bytes_of(event("Ok", seq)));
          std::this_thread::sleep_for(20ms);
          std::lock_guard<std::mutex> lock(b_in.mtx);
          return !b_in.events.empty() && b_in.events.back().seq == seq;
        },
        10s);
  };
  ASSERT_TRUE(arrives(1));
  send(topic_of("Ok"), std::string(max_event_frame + 1, 'x'));
  ASSERT_TRUE(test::wait_until([&] { return b->stats().reconnects >= 1; }, 10s));
  EXPECT_TRUE(arrives(2));
}

TEST(endpoint, malformed_frames_are_logged_per_peer_endpoint_and_rate_limited) {
  // Two bad publishers on one host: each is named (a log per IP named only
  // the first), and a flood from one is one line, not thousands.
  zmq::context_t ctx;
  std::vector<zmq::socket_t> rogues;
  std::vector<std::string> eps;
  for (int i = 0; i < 2; ++i) {
    rogues.emplace_back(ctx, zmq::socket_type::pub);
    rogues.back().set(zmq::sockopt::linger, 0);
    eps.push_back(test::free_endpoint());
    rogues.back().bind(eps.back());
  }
  std::mutex mtx;
  std::vector<std::string> lines;
  endpoint_handlers h;
  h.log = [&](int, const std::string& line) {
    std::lock_guard<std::mutex> lock(mtx);
    lines.push_back(line);
  };
  auto b = endpoint::start(options("b", test::free_endpoint(), test::free_endpoint(), eps, {""}), h);
  ASSERT_TRUE(b) << b.err().to_string();
  ASSERT_TRUE(test::wait_until([&] { return (*b)->stats().peers_connected >= 2; }, 5s));
  const auto named = [&](const std::string& ep) {
    std::lock_guard<std::mutex> lock(mtx);
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find("malformed") != std::string::npos && l.find(ep) != std::string::npos;
    });
  };
  ASSERT_TRUE(test::wait_until(
      [&] {
        for (auto& r : rogues)
          for (int k = 0; k < 50; ++k) {
            r.send(zmq::buffer(topic_of("Ok")), zmq::send_flags::sndmore);
            r.send(zmq::buffer(std::string("\xc1\xc1")), zmq::send_flags::none);
          }
        std::this_thread::sleep_for(20ms);
        return named(eps[0]) >= 1 && named(eps[1]) >= 1;
      },
      10s));
  EXPECT_GE((*b)->stats().malformed, 100u);
  EXPECT_EQ(named(eps[0]), 1);
  EXPECT_EQ(named(eps[1]), 1);
}

TEST_F(pair_fixture, control_requests_get_replies) {
  start({""});
  client c(b_ctl);
  control_request s;
  s.verb = "status";
  auto rep = c.call(s, 5s);
  ASSERT_TRUE(rep) << rep.err().to_string();
  EXPECT_TRUE(rep->ok);
  EXPECT_EQ(rep->body, "pong:status");
}

TEST(endpoint, bind_conflict_is_an_error_not_a_crash) {
  const auto pub = test::free_endpoint(), ctl = test::free_endpoint();
  auto first = endpoint::start(options("x", pub, ctl, {}, {}), {});
  ASSERT_TRUE(first);
  auto second = endpoint::start(options("y", pub, test::free_endpoint(), {}, {}), {});
  ASSERT_FALSE(second);
  EXPECT_NE(second.err().message.find(pub), std::string::npos);
}

// The endpoint is the node's event loop: what runs on it, and in what order.
struct loop_log {
  std::mutex mtx;
  std::vector<std::string> lines;
  std::thread::id loop;
  void add(std::string line) {
    std::lock_guard<std::mutex> lock(mtx);
    lines.push_back(std::move(line));
  }
  std::vector<std::string> get() {
    std::lock_guard<std::mutex> lock(mtx);
    return lines;
  }
};

TEST(endpoint, tasks_and_timers_run_on_the_loop_thread_in_order_and_not_early) {
  auto log = std::make_shared<loop_log>();
  endpoint_handlers h;
  h.on_start = [log](endpoint& ep) {
    log->loop = std::this_thread::get_id();
    log->add("start");
    const auto t0 = std::chrono::steady_clock::now();
    // Armed out of order; two for the same moment run in arming order.
    for (auto [name, after] : {std::pair{"late", 120ms}, std::pair{"early", 40ms}, std::pair{"early too", 40ms}})
      ep.at(t0 + after, [log, name = std::string(name), due = t0 + after] {
        const bool on_time = std::chrono::steady_clock::now() >= due;
        const bool here = std::this_thread::get_id() == log->loop;
        log->add(name + (on_time ? "" : " EARLY") + (here ? "" : " ELSEWHERE"));
      });
  };
  auto ep = endpoint::start(options("x", test::free_endpoint(), test::free_endpoint(), {}, {}), h);
  ASSERT_TRUE(ep) << ep.err().to_string();
  (*ep)->post([log] { log->add(std::this_thread::get_id() == log->loop ? "posted" : "posted ELSEWHERE"); });
  ASSERT_TRUE(test::wait_until([&] { return log->get().size() == 5; }, 5000ms)) << log->get().size();
  const auto lines = log->get();
  EXPECT_EQ(lines.front(), "start") << "on_start runs before anything else on the loop";
  std::vector<std::string> timers;
  std::copy_if(lines.begin(), lines.end(), std::back_inserter(timers),
               [](const std::string& l) { return l.rfind("posted", 0) != 0 && l != "start"; });
  EXPECT_EQ(timers, (std::vector<std::string>{"early", "early too", "late"}));
  EXPECT_NE(std::find(lines.begin(), lines.end(), "posted"), lines.end()) << "a posted task runs on the loop";
}

TEST(endpoint, on_idle_asking_for_more_gets_another_pass_without_a_wake_up) {
  // Each pass ends with on_idle; one that says it left work gets the next
  // pass at once, not at the next sweep (every 100 ms): 40 such passes in
  // far less than the 4 s the sweep would take.
  std::atomic<int> passes{0};
  std::atomic<bool> stopped{false};
  auto loop_thread = std::make_shared<std::atomic<bool>>(false);
  endpoint_handlers h;
  std::thread::id loop;
  h.on_start = [&](endpoint&) { loop = std::this_thread::get_id(); };
  h.on_idle = [&] { return ++passes < 40; };
  h.on_stop = [&, loop_thread] {
    *loop_thread = std::this_thread::get_id() == loop;
    stopped = true;
  };
  auto ep = endpoint::start(options("x", test::free_endpoint(), test::free_endpoint(), {}, {}), h);
  ASSERT_TRUE(ep) << ep.err().to_string();
  EXPECT_TRUE(test::wait_until([&] { return passes.load() >= 40; }, 2000ms)) << passes.load() << " passes in 2 s";
  EXPECT_FALSE(stopped.load());
  (*ep)->stop();
  EXPECT_TRUE(stopped.load()) << "on_stop ran before stop() returned";
  EXPECT_TRUE(loop_thread->load()) << "on_stop ran on the loop's thread";
}

TEST(endpoint, a_task_that_throws_stops_the_loop_through_on_fatal_not_on_stop) {
  std::mutex mtx;
  std::string why;
  std::atomic<bool> stopped{false};
  endpoint_handlers h;
  h.on_fatal = [&](const std::string& w) {
    std::lock_guard<std::mutex> lock(mtx);
    why = w;
  };
  h.on_stop = [&] { stopped = true; };
  auto ep = endpoint::start(options("x", test::free_endpoint(), test::free_endpoint(), {}, {}), h);
  ASSERT_TRUE(ep) << ep.err().to_string();
  (*ep)->post([] { throw std::runtime_error("bad task"); });
  ASSERT_TRUE(test::wait_until(
      [&] {
        std::lock_guard<std::mutex> lock(mtx);
        return !why.empty();
      },
      5000ms));
  EXPECT_NE(why.find("bad task"), std::string::npos) << why;
  (*ep)->stop();
  EXPECT_FALSE(stopped.load()) << "after a failure nothing half done is committed on the way out";
}

TEST(client, times_out_without_a_server) {
  client c(test::free_endpoint());
  control_request s;
  s.verb = "status";
  auto rep = c.call(s, 100ms);
  ASSERT_FALSE(rep);
  EXPECT_EQ(rep.err().code, errc::io);
}

} // namespace
} // namespace troupe::wire
