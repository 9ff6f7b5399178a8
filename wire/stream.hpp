// The delivery protocol between nodes, on top of PUB/SUB.
//
// PUB/SUB loses messages (at the high-water mark, before a subscription
// arrives, across a restart); these messages make up for it:
//   heartbeat  published every few hundred ms on its own topic: the origin's
//              epoch and the head seq of each of its streams, so that a lost
//              tail or a restarted origin is noticed;
//   ack        subscriber → origin over the control channel: cumulative, per
//              stream, once events are durable in the subscriber's inbox;
//   replay     subscriber → origin: "send stream S of epoch E from seq F";
//   events     origin → subscriber, the answer: encoded envelopes in order,
//              with the origin's current epoch and the stream's head.
// All are MessagePack arrays `[version, verb, ...]` like the control protocol.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wire/error.hpp"

namespace troupe::wire {

/// The heartbeat's topic frame: it cannot collide with a detail-type topic,
/// which never starts with a control character.
inline const std::string heartbeat_topic = std::string("\x01heartbeat", 10);

struct heartbeat {
  std::string origin;
  std::uint64_t epoch = 0;
  std::vector<std::pair<std::string, std::uint64_t>> heads;  // stream → last seq
  // The origin's wall clock when it sent this (ms since the Unix epoch), so
  // that peers measure event ages on the origin's clock; 0 from nodes
  // before it was added (the element is optional on the wire).
  std::int64_t time_ms = 0;
};

struct stream_ack {
  std::string stream;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
};

struct ack {
  std::string node;  // who acks
  std::vector<stream_ack> acks;
};

struct replay_request {
  std::string node;  // who asks
  std::string stream;
  std::uint64_t epoch = 0;  // the epoch the asker knows (0: none yet)
  std::uint64_t from = 0;   // first seq wanted
  std::uint32_t max = 0;    // at most this many events
};

struct replay_batch {
  std::string stream;
  std::uint64_t epoch = 0;  // the origin's current epoch
  std::uint64_t head = 0;   // the stream's last seq at the origin
  std::uint64_t first_kept = 0;  // oldest seq still kept (0: none kept)
  // (seq, encoded envelope), ascending seq; at most replay_batch_bytes of
  // envelopes but always one (wire/limits.hpp).
  std::vector<std::pair<std::uint64_t, std::string>> events;
};

std::string encode(const heartbeat& m);
std::string encode(const ack& m);
std::string encode(const replay_request& m);
std::string encode(const replay_batch& m);

result<heartbeat> decode_heartbeat(std::string_view bytes);
result<ack> decode_ack(std::string_view bytes);
result<replay_request> decode_replay_request(std::string_view bytes);
result<replay_batch> decode_replay_batch(std::string_view bytes);

/// The verb of a message in this protocol ("ack", "replay", "events",
/// "heartbeat"), or "" when the bytes are something else.
std::string peer_verb(std::string_view bytes);

} // namespace troupe::wire
