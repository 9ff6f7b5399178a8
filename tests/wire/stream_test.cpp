// The peer protocol (wire/stream.hpp): heartbeats, acks, replay requests
// and replay batches. Each message round-trips and has the bytes its
// format says; each cap holds at its edge (wire/limits.hpp and the caps in
// stream.cpp); malformed, truncated and over-long input is refused with an
// error, never an exception.
#include "wire/stream.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "wire/limits.hpp"
#include "wire/msgpack_io.hpp"

namespace troupe::wire {
namespace {

// stream.cpp's caps, private to it: elements per array (the most events a
// batch or heads a heartbeat may carry, plus room for the streams), and
// the most events a replay request may ask for.
constexpr std::size_t max_items = 10000 + 4096;
constexpr std::uint32_t max_replay = 10000;

template <class M>
result<std::string> encode_again(const result<M>& m) {
  if (!m)
    return m.err();
  return encode(*m);
}

/// Decodes `bytes` as the message `verb` names and encodes it again.
result<std::string> round_trip(const std::string& verb, std::string_view bytes) {
  if (verb == "heartbeat")
    return encode_again(decode_heartbeat(bytes));
  if (verb == "ack")
    return encode_again(decode_ack(bytes));
  if (verb == "replay")
    return encode_again(decode_replay_request(bytes));
  return encode_again(decode_replay_batch(bytes));
}

struct message_case {
  std::string name;
  std::string verb;
  std::string bytes;
};

std::vector<message_case> samples() {
  return {
      {"heartbeat without streams", "heartbeat", encode(heartbeat{"booking", 7, {}})},
      {"heartbeat", "heartbeat",
       encode(heartbeat{"booking", 1795000000123, {{"BookingCreated", 12}, {"BookingCancelled", UINT64_MAX}}})},
      {"ack without streams", "ack", encode(ack{"payment", {}})},
      {"ack", "ack", encode(ack{"payment", {{"BookingCreated", 1795000000123, 42}, {"Other", 1, UINT64_MAX}}})},
      {"replay request", "replay", encode(replay_request{"payment", "BookingCreated", 0, 1, 2000})},
      {"replay request for all", "replay",
       encode(replay_request{"payment", "BookingCreated", UINT64_MAX, UINT64_MAX, max_replay})},
      {"empty batch", "events", encode(replay_batch{"BookingCreated", 7, 0, 0, {}})},
      {"batch", "events",
       encode(replay_batch{"BookingCreated", 7, 9, 3, {{3, std::string("\x9c\x00\xff", 3)}, {4, ""}, {9, "event"}}})},
  };
}

TEST(stream, every_message_round_trips) {
  for (const auto& c : samples()) {
    auto again = round_trip(c.verb, c.bytes);
    ASSERT_TRUE(again) << c.name << ": " << again.err().to_string();
    EXPECT_EQ(*again, c.bytes) << c.name;
    EXPECT_EQ(peer_verb(c.bytes), c.verb) << c.name;
  }
}

TEST(stream, each_message_has_its_documented_bytes) {
  // [version 1, verb, fields...]: a decoder and an encoder that agreed on
  // the wrong order of fields would still round-trip.
  struct golden {
    const char* name;
    std::string bytes, want;
  };
  using namespace std::string_literals;
  const std::vector<golden> cases = {
      {"heartbeat", encode(heartbeat{"o", 2, {{"s", 3}}, 5}), "\x96\x01\xa9heartbeat\xa1o\x02\x91\x92\xa1s\x03\x05"s},
      {"ack", encode(ack{"n", {{"s", 2, 3}}}), "\x94\x01\xa3" "ack\xa1n\x91\x93\xa1s\x02\x03"s},
      {"replay", encode(replay_request{"n", "s", 2, 3, 4}), "\x97\x01\xa6replay\xa1n\xa1s\x02\x03\x04"s},
      {"events", encode(replay_batch{"s", 2, 3, 1, {{1, "e"}}}),
       "\x97\x01\xa6" "events\xa1s\x02\x03\x01\x91\x92\x01\xc4\x01" "e"s},
  };
  for (const auto& c : cases)
    EXPECT_EQ(c.bytes, c.want) << c.name;
  auto hb = decode_heartbeat(cases[0].want);
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->origin, "o");
  EXPECT_EQ(hb->epoch, 2u);
  EXPECT_EQ(hb->heads, (std::vector<std::pair<std::string, std::uint64_t>>{{"s", 3}}));
  EXPECT_EQ(hb->time_ms, 5);
  // A node from before heartbeats said their time sends five elements.
  auto old = decode_heartbeat("\x95\x01\xa9heartbeat\xa1o\x02\x91\x92\xa1s\x03"s);
  ASSERT_TRUE(old) << old.err().to_string();
  EXPECT_EQ(old->time_ms, 0);
  EXPECT_EQ(old->heads, hb->heads);
  // A time that is no count of milliseconds is refused.
  EXPECT_FALSE(decode_heartbeat("\x96\x01\xa9heartbeat\xa1o\x02\x91\x92\xa1s\x03\xff"s));
  EXPECT_FALSE(decode_heartbeat("\x96\x01\xa9heartbeat\xa1o\x02\x91\x92\xa1s\x03\xcf\xff\xff\xff\xff\xff\xff\xff\xff"s));
  EXPECT_FALSE(decode_heartbeat("\x97\x01\xa9heartbeat\xa1o\x02\x91\x92\xa1s\x03\x05\x05"s));
  auto a = decode_ack(cases[1].want);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->node, "n");
  ASSERT_EQ(a->acks.size(), 1u);
  EXPECT_EQ(a->acks[0].stream, "s");
  EXPECT_EQ(a->acks[0].epoch, 2u);
  EXPECT_EQ(a->acks[0].seq, 3u);
  auto r = decode_replay_request(cases[2].want);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->node, "n");
  EXPECT_EQ(r->stream, "s");
  EXPECT_EQ(r->epoch, 2u);
  EXPECT_EQ(r->from, 3u);
  EXPECT_EQ(r->max, 4u);
  auto b = decode_replay_batch(cases[3].want);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->stream, "s");
  EXPECT_EQ(b->epoch, 2u);
  EXPECT_EQ(b->head, 3u);
  EXPECT_EQ(b->first_kept, 1u);
  EXPECT_EQ(b->events, (std::vector<std::pair<std::uint64_t, std::string>>{{1, "e"}}));
}

struct limit_case {
  std::string name;
  std::string verb;
  std::string bytes;
  std::optional<errc> refused;  // nullopt: accepted
};

heartbeat with_heads(std::size_t n) {
  heartbeat m{"booking", 1, {}};
  for (std::size_t i = 0; i < n; ++i)
    m.heads.emplace_back("s", i);
  return m;
}

ack with_acks(std::size_t n) {
  ack m{"payment", {}};
  for (std::size_t i = 0; i < n; ++i)
    m.acks.push_back({"s", 1, i});
  return m;
}

replay_batch with_events(std::size_t n, std::size_t bytes_each) {
  replay_batch m{"s", 1, n, 1, {}};
  for (std::size_t i = 0; i < n; ++i)
    m.events.emplace_back(i + 1, std::string(bytes_each, 'e'));
  return m;
}

TEST(stream, each_cap_holds_at_its_edge) {
  const std::vector<limit_case> cases = {
      {"heads at the cap", "heartbeat", encode(with_heads(max_items)), std::nullopt},
      {"heads over the cap", "heartbeat", encode(with_heads(max_items + 1)), errc::too_large},
      {"acks at the cap", "ack", encode(with_acks(max_items)), std::nullopt},
      {"acks over the cap", "ack", encode(with_acks(max_items + 1)), errc::too_large},
      {"events at the cap", "events", encode(with_events(max_items, 1)), std::nullopt},
      {"events over the cap", "events", encode(with_events(max_items + 1, 1)), errc::too_large},
      // One event as large as a peer message may be, and one byte more.
      {"event at the byte cap", "events", encode(with_events(1, max_peer_message)), std::nullopt},
      {"event over the byte cap", "events", encode(with_events(1, max_peer_message + 1)), errc::too_large},
      {"origin at the byte cap", "heartbeat", encode(heartbeat{std::string(max_peer_message, 'o'), 1, {}}),
       std::nullopt},
      {"origin over the byte cap", "heartbeat", encode(heartbeat{std::string(max_peer_message + 1, 'o'), 1, {}}),
       errc::too_large},
      {"stream name over the byte cap", "replay",
       encode(replay_request{"n", std::string(max_peer_message + 1, 's'), 1, 1, 1}), errc::too_large},
  };
  for (const auto& c : cases) {
    std::optional<result<std::string>> again;
    ASSERT_NO_THROW(again.emplace(round_trip(c.verb, c.bytes))) << c.name;
    if (!c.refused) {
      ASSERT_TRUE(*again) << c.name << ": " << again->err().to_string();
      EXPECT_EQ(**again, c.bytes) << c.name;
    } else {
      ASSERT_FALSE(*again) << c.name << " was accepted";
      EXPECT_EQ(again->err().code, *c.refused) << c.name << ": " << again->err().to_string();
    }
  }
}

TEST(stream, a_replay_request_asks_for_at_most_the_cap) {
  for (const auto& [asked, got] : std::vector<std::pair<std::uint32_t, std::uint32_t>>{
           {0, 0}, {1, 1}, {max_replay, max_replay}, {max_replay + 1, max_replay}, {UINT32_MAX, max_replay}}) {
    auto r = decode_replay_request(encode(replay_request{"n", "s", 1, 1, asked}));
    ASSERT_TRUE(r) << asked << ": " << r.err().to_string();
    EXPECT_EQ(r->max, got) << asked;
  }
}

// A value nested `depth` levels deep (arrays of one), `depth` >= 1.
std::string nested(int depth) {
  std::string out(static_cast<std::size_t>(depth - 1), '\x91');
  return out + '\x90';
}

TEST(stream, malformed_input_is_refused_without_throwing) {
  using namespace std::string_literals;
  const std::string hb = "\x95\x01\xa9heartbeat"s;
  const std::string ack_head = "\x94\x01\xa3" "ack"s;
  const std::string replay_head = "\x97\x01\xa6replay"s;
  const std::string events_head = "\x97\x01\xa6" "events"s;
  const std::vector<limit_case> cases = {
      {"empty", "heartbeat", "", errc::truncated},
      {"nil", "ack", "\xc0", errc::wrong_shape},
      {"reserved byte 0xc1", "replay", "\xc1", errc::not_msgpack},
      {"not an array", "events", "\x81\xa1k\x01", errc::wrong_shape},
      {"too few fields", "heartbeat", "\x94\x01\xa9heartbeat\xa1o\x01"s, errc::wrong_shape},
      {"too many fields", "ack", "\x95\x01\xa3" "ack\xa1n\x90\x90"s, errc::wrong_shape},
      {"version 2", "heartbeat", "\x95\x02\xa9heartbeat\xa1o\x01\x90"s, errc::bad_version},
      {"version as a string", "ack", "\x94\xa1\x31\xa3" "ack\xa1n\x90"s, errc::bad_version},
      {"another verb", "events", "\x97\x01\xa6replay\xa1n\xa1s\x01\x01\x01"s, errc::wrong_shape},
      {"verb not a string", "ack", "\x94\x01\x01\xa1n\x90"s, errc::wrong_shape},
      {"origin not a string", "heartbeat", hb + "\x01\x01\x90", errc::wrong_shape},
      {"epoch negative", "heartbeat", hb + "\xa1o\xff\x90", errc::wrong_shape},
      {"heads not an array", "heartbeat", hb + "\xa1o\x01\x80", errc::wrong_shape},
      {"a head of three", "heartbeat", hb + "\xa1o\x01\x91\x93\xa1s\x01\x01", errc::wrong_shape},
      {"a head's seq a string", "heartbeat", hb + "\xa1o\x01\x91\x92\xa1s\xa1\x31", errc::wrong_shape},
      {"an ack of two", "ack", ack_head + "\xa1n\x91\x92\xa1s\x01", errc::wrong_shape},
      {"an ack's seq negative", "ack", ack_head + "\xa1n\x91\x93\xa1s\x01\xff", errc::wrong_shape},
      {"an ack not an array", "ack", ack_head + "\xa1n\x91\xa1s", errc::wrong_shape},
      {"replay from a string", "replay", replay_head + "\xa1n\xa1s\x01\xa1\x31\x01", errc::wrong_shape},
      {"replay max negative", "replay", replay_head + "\xa1n\xa1s\x01\x01\xff", errc::wrong_shape},
      {"replay max a float", "replay", replay_head + "\xa1n\xa1s\x01\x01\xca\x3f\x80\x00\x00"s, errc::wrong_shape},
      {"an event as a string", "events", events_head + "\xa1s\x01\x01\x01\x91\x92\x01\xa1" "e", errc::wrong_shape},
      {"an event without its seq", "events", events_head + "\xa1s\x01\x01\x01\x91\x91\xc4\x01" "e",
       errc::wrong_shape},
      {"first kept negative", "events", events_head + "\xa1s\x01\x01\xff\x90", errc::wrong_shape},
      // Nesting: a message is at most four levels deep.
      {"four levels", "heartbeat", hb + "\xa1o\x01\x91\x92\xa1s" + nested(1), errc::wrong_shape},
      {"five levels", "heartbeat", hb + "\xa1o\x01\x91\x92\xa1s" + nested(2), errc::too_large},
      // Length bombs: a few bytes that claim gigabytes. A string's or
      // binary's length is taken at its word only once its bytes are there.
      {"str32 bomb", "heartbeat", hb + "\xdb\xff\xff\xff\xff", errc::truncated},
      {"bin32 bomb", "events", events_head + "\xa1s\x01\x01\x01\x91\x92\x01\xc6\xff\xff\xff\xff", errc::truncated},
      {"array32 bomb", "ack", ack_head + "\xa1n\xdd\xff\xff\xff\xff", errc::too_large},
      {"map32 bomb", "replay", "\xdf\xff\xff\xff\xff"s, errc::too_large},
  };
  for (const auto& c : cases) {
    std::optional<result<std::string>> again;
    ASSERT_NO_THROW(again.emplace(round_trip(c.verb, c.bytes))) << c.name;
    ASSERT_FALSE(*again) << c.name << " was accepted";
    EXPECT_EQ(again->err().code, *c.refused) << c.name << ": " << again->err().to_string();
    EXPECT_FALSE(again->err().message.empty()) << c.name;
  }
}

TEST(stream, every_truncation_is_refused) {
  for (const auto& c : samples())
    for (std::size_t n = 0; n < c.bytes.size(); ++n) {
      std::optional<result<std::string>> again;
      ASSERT_NO_THROW(again.emplace(round_trip(c.verb, std::string_view(c.bytes).substr(0, n))))
          << c.name << ", " << n << " bytes";
      ASSERT_FALSE(*again) << c.name << ": a prefix of " << n << " bytes was accepted";
      EXPECT_EQ(again->err().code, errc::truncated) << c.name << ", " << n << " bytes: " << again->err().to_string();
    }
}

TEST(stream, trailing_bytes_are_refused) {
  for (const auto& c : samples())
    for (const std::string& tail : {std::string(1, '\xc0'), std::string(1, '\0'), c.bytes}) {
      auto again = round_trip(c.verb, c.bytes + tail);
      ASSERT_FALSE(again) << c.name << " with " << tail.size() << " bytes more was accepted";
      EXPECT_EQ(again.err().code, errc::trailing_bytes) << c.name << ": " << again.err().to_string();
    }
}

TEST(stream, peer_verb_names_only_peer_messages) {
  using namespace std::string_literals;
  const std::vector<std::pair<const char*, std::string>> others = {
      {"empty", ""},
      {"nil", "\xc0"},
      {"an array of one", "\x91\x01"},
      {"a control request", "\x92\x01\xa6status"s},
      {"a verb that is a number", "\x92\x01\x02"s},
      {"truncated verb", "\x92\x01\xa6" "ev"s},
  };
  for (const auto& [name, bytes] : others) {
    std::string verb = "?";
    ASSERT_NO_THROW(verb = peer_verb(bytes)) << name;
    EXPECT_EQ(verb, "") << name;
  }
}

} // namespace
} // namespace troupe::wire
