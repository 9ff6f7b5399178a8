// The peer protocol's decoders (wire/stream.hpp) on arbitrary bytes, as a
// node reads heartbeats from its SUB sockets and acks, replay requests and
// replay batches from its peers: no crash, no exception, no read out of
// bounds. At most one decoder accepts a message, and peer_verb names it; a
// message accepted encodes and decodes to the same message, and its
// encoding is stable. A replay request asks for at most 10,000 events (the
// decoder caps it), and each event of a batch goes through the envelope
// decoder, as the node that asked does with it.
#include <string>

#include "fuzz/check.hpp"
#include "wire/envelope.hpp"
#include "wire/stream.hpp"

using namespace troupe;

namespace {

bool same(const wire::heartbeat& a, const wire::heartbeat& b) {
  return a.origin == b.origin && a.epoch == b.epoch && a.heads == b.heads && a.time_ms == b.time_ms;
}

bool same(const wire::ack& a, const wire::ack& b) {
  if (a.node != b.node || a.acks.size() != b.acks.size())
    return false;
  for (std::size_t i = 0; i < a.acks.size(); ++i) {
    const auto &x = a.acks[i], &y = b.acks[i];
    if (x.stream != y.stream || x.epoch != y.epoch || x.seq != y.seq)
      return false;
  }
  return true;
}

bool same(const wire::replay_request& a, const wire::replay_request& b) {
  return a.node == b.node && a.stream == b.stream && a.epoch == b.epoch && a.from == b.from && a.max == b.max;
}

bool same(const wire::replay_batch& a, const wire::replay_batch& b) {
  return a.stream == b.stream && a.epoch == b.epoch && a.head == b.head && a.first_kept == b.first_kept
         && a.events == b.events;
}

/// Checks the round trip of a message `decode` accepted; returns 1 so that
/// the caller counts the decoders that accepted. `grows`: how many bytes
/// the encoding may add (a heartbeat from an older node gains its time).
template <class M, class Decode>
int round_trip(const M& m, std::string_view in, const char* verb, Decode decode, std::size_t grows = 0) {
  FUZZ_CHECK(wire::peer_verb(in) == verb);
  const auto once = wire::encode(m);
  FUZZ_CHECK(once.size() <= in.size() + grows);
  auto again = decode(once);
  FUZZ_CHECK(again);
  FUZZ_CHECK(same(*again, m));
  FUZZ_CHECK(wire::encode(*again) == once);
  return 1;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto in = fuzz::bytes_of(data, size);
  int accepted = 0;
  if (auto m = wire::decode_heartbeat(in))
    accepted += round_trip(*m, in, "heartbeat", wire::decode_heartbeat, 1);
  if (auto m = wire::decode_ack(in))
    accepted += round_trip(*m, in, "ack", wire::decode_ack);
  if (auto m = wire::decode_replay_request(in)) {
    FUZZ_CHECK(m->max <= 10000);
    accepted += round_trip(*m, in, "replay", wire::decode_replay_request);
  }
  if (auto m = wire::decode_replay_batch(in)) {
    accepted += round_trip(*m, in, "events", wire::decode_replay_batch);
    for (const auto& [seq, bytes] : m->events)
      if (auto e = wire::decode(bytes); !e)
        FUZZ_CHECK(!e.err().message.empty());
  }
  FUZZ_CHECK(accepted <= 1);
  if (accepted == 0)
    (void)wire::peer_verb(in);  // read, as a node reads what no decoder took
  return 0;
}
