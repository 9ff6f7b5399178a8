// One size limit, end to end: the largest entry PutEvents takes becomes an
// envelope that every later layer takes too, and one byte more is refused
// at the entry with a clear error.
#include "wire/limits.hpp"

#include <gtest/gtest.h>

#include "wire/control.hpp"
#include "wire/envelope.hpp"
#include "wire/log_limit.hpp"
#include "wire/msgpack_io.hpp"
#include "wire/stream.hpp"

namespace troupe::wire {
namespace {

using packer = msgpack::packer<string_sink>;

/// A detail map {"s": <n bytes of 'x'>}.
std::string detail_with_string(std::size_t n) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  pk.pack_map(1);
  pk.pack(std::string("s"));
  pk.pack(std::string(n, 'x'));
  return out;
}

/// A detail map nested `depth` levels deep: {"a": {"a": ... {}}}.
std::string nested_detail(std::size_t depth) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  for (std::size_t i = 1; i < depth; ++i) {
    pk.pack_map(1);
    pk.pack(std::string("a"));
  }
  pk.pack_map(0);
  return out;
}

/// A detail map {"a": [0, 0, ...]} with `n` elements.
std::string wide_detail(std::size_t n) {
  std::string out;
  string_sink sink{out};
  packer pk(sink);
  pk.pack_map(1);
  pk.pack(std::string("a"));
  pk.pack_array(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    pk.pack(0);
  return out;
}

/// The largest entry that passes, with every other field at its limit too.
struct largest {
  std::string source = std::string(max_string_bytes, 's');
  std::string detail_type = std::string(max_string_bytes, 'T');
  std::string correlation = std::string(max_string_bytes, 'c');
  std::vector<std::string> resources = std::vector<std::string>(max_resources, std::string(100, 'r'));
  std::string detail;

  largest() {
    entry_view v{source, detail_type, "", correlation, &resources};
    const auto fixed = entry_size(v);
    detail = detail_with_string(0);
    const auto header = detail_with_string(max_entry_bytes).size() - max_entry_bytes;  // map, key, str32 header
    detail = detail_with_string(max_entry_bytes - fixed - header);
  }
  entry_view view() const { return {source, detail_type, detail, correlation, &resources}; }
};

TEST(limits, the_largest_entry_travels_through_every_layer) {
  largest e;
  ASSERT_EQ(entry_size(e.view()), max_entry_bytes);
  ASSERT_FALSE(check_entry(e.view())) << check_entry(e.view()).message;

  envelope ev;
  ev.id = std::string(max_string_bytes, 'i');
  ev.source = e.source;
  ev.detail_type = e.detail_type;
  ev.time_ms = INT64_MAX;
  ev.resources = e.resources;
  ev.origin = std::string(max_string_bytes, 'o');
  ev.epoch = UINT64_MAX;
  ev.seq = UINT64_MAX;
  ev.correlation_id = e.correlation;
  ev.causation_id = std::string(max_string_bytes, 'k');
  ev.detail = e.detail;
  std::string bytes;
  ASSERT_TRUE(encode(ev, bytes));
  EXPECT_LE(bytes.size(), max_envelope_bytes);
  EXPECT_LE(bytes.size(), max_event_frame);
  auto back = decode(bytes);
  ASSERT_TRUE(back) << back.err().to_string();
  EXPECT_EQ(*back, ev);

  // A replay batch of such events stays within what a peer's DEALER takes.
  replay_batch batch{ev.detail_type, 1, 100, 1, {}};
  std::size_t total = 0;
  for (std::uint64_t seq = 1; total <= replay_batch_bytes; ++seq) {
    batch.events.emplace_back(seq, bytes);
    total += bytes.size();
  }
  EXPECT_LE(encode(batch).size(), max_peer_message);
}

TEST(limits, one_byte_more_is_refused_at_the_entry) {
  largest e;
  e.detail = detail_with_string(max_entry_bytes - entry_size({e.source, e.detail_type, "", e.correlation, &e.resources})
                                - (detail_with_string(max_entry_bytes).size() - max_entry_bytes) + 1);
  const auto p = check_entry(e.view());
  ASSERT_TRUE(p);
  EXPECT_EQ(p.code, "InvalidArgument");
  EXPECT_NE(p.message.find(std::to_string(max_entry_bytes + 1) + " bytes"), std::string::npos) << p.message;
}

TEST(limits, a_detail_over_64_KiB_within_the_entry_encodes) {
  // Before one limit: PutEvents took it, the encoder refused it, and the
  // event was lost after its id had been answered.
  const auto detail = detail_with_string(100000);
  EXPECT_FALSE(check_entry({"src", "T", detail, "", nullptr}));
  envelope ev;
  ev.id = make_uuid();
  ev.source = "src";
  ev.detail_type = "T";
  ev.origin = "n";
  ev.detail = detail;
  std::string bytes;
  ASSERT_TRUE(encode(ev, bytes));
  EXPECT_TRUE(decode(bytes));
}

TEST(limits, every_field_limit_is_an_entry_error) {
  const std::vector<std::string> too_many(max_resources + 1, "r");
  const std::vector<std::string> too_long{std::string(max_string_bytes + 1, 'r')};
  const auto map = detail_with_string(1);
  struct row {
    const char* name;
    entry_view e;
    const char* code;
  };
  const std::string long_str(max_string_bytes + 1, 'x');
  const std::string deep = nested_detail(max_detail_depth + 1), wide = wide_detail(max_detail_items + 1);
  const std::vector<row> rows = {
      {"no source", {"", "T", map, "", nullptr}, "InvalidArgument"},
      {"no detail-type", {"s", "", map, "", nullptr}, "InvalidArgument"},
      {"control character", {"s", "\x01heartbeat", map, "", nullptr}, "InvalidArgument"},
      {"long source", {long_str, "T", map, "", nullptr}, "InvalidArgument"},
      {"long detail-type", {"s", long_str, map, "", nullptr}, "InvalidArgument"},
      {"long correlation-id", {"s", "T", map, long_str, nullptr}, "InvalidArgument"},
      {"too many resources", {"s", "T", map, "", &too_many}, "InvalidArgument"},
      {"long resource", {"s", "T", map, "", &too_long}, "InvalidArgument"},
      {"detail not a map", {"s", "T", "\x91\x01", "", nullptr}, "MalformedDetail"},
      {"detail not MessagePack", {"s", "T", "\xc1", "", nullptr}, "MalformedDetail"},
      {"detail too deep", {"s", "T", deep, "", nullptr}, "MalformedDetail"},
      {"detail too wide", {"s", "T", wide, "", nullptr}, "MalformedDetail"},
  };
  for (const auto& r : rows) {
    const auto p = check_entry(r.e);
    EXPECT_EQ(p.code, r.code) << r.name << ": " << p.message;
    EXPECT_FALSE(p.message.empty()) << r.name;
  }
  // At the limits themselves, all is well.
  EXPECT_FALSE(check_entry({"s", "T", nested_detail(max_detail_depth), "", nullptr}));
  EXPECT_FALSE(check_entry({"s", "T", wide_detail(max_detail_items), "", nullptr}));
}

TEST(limits, a_detail_at_the_limits_passes_every_reader_and_one_past_them_none) {
  // check_detail walks without building; every reader builds with
  // detail_limits: they must agree exactly.
  struct row {
    const char* name;
    std::string detail;
    bool ok;
  };
  const std::vector<row> rows = {
      {"deepest", nested_detail(max_detail_depth), true},
      {"too deep", nested_detail(max_detail_depth + 1), false},
      {"widest", wide_detail(max_detail_items), true},
      {"too wide", wide_detail(max_detail_items + 1), false},
      {"longest string", detail_with_string(max_entry_bytes - 16), true},
      {"trailing bytes", detail_with_string(1) + "\xc0", false},
      {"truncated", detail_with_string(10).substr(0, 8), false},
      {"not a map", "\x91\x01", false},
      {"reserved byte", "\x81\xa1x\xc1", false},
      {"empty", "", false},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(static_cast<bool>(check_detail(r.detail)), r.ok) << r.name;
    auto built = read_exactly_one(r.detail, detail_limits, "detail");
    EXPECT_EQ(built && built->get().type == msgpack::type::MAP, r.ok) << r.name;
    if (!r.ok)
      continue;
    envelope ev;
    ev.id = make_uuid();
    ev.source = "s";
    ev.detail_type = "T";
    ev.origin = "n";
    ev.detail = r.detail;
    std::string bytes;
    ASSERT_TRUE(encode(ev, bytes)) << r.name;
    EXPECT_TRUE(decode(bytes)) << r.name;
    control_request put;
    put.verb = "put";
    put.entries.push_back({"s", "T", r.detail, "", {}, {}});
    EXPECT_TRUE(decode_request(encode(put))) << r.name;
  }
}

TEST(limits, a_detail_with_a_key_twice_or_a_key_not_a_string_is_malformed_where_events_are_made) {
  // A rule matches on any copy of a key, a service reads one: the copies
  // could tell them different things, so an entry may not carry them.
  struct row {
    const char* name;
    std::string detail;
    const char* problem;  // nullptr: taken
  };
  const std::vector<row> rows = {
      {"distinct keys", "\x82\xa1" "a\x01\xa1" "b\x02", nullptr},
      {"the same key twice", "\x82\xa6" "flight\xa5" "TR100\xa6" "flight\xa5" "TR300", "\"flight\" twice"},
      {"twice, not side by side", "\x83\xa1" "a\x01\xa1" "b\x02\xa1" "a\x03", "\"a\" twice"},
      {"twice in a nested map", "\x81\xa1" "d\x82\xa1" "x\x01\xa1" "x\x02", "\"x\" twice"},
      {"twice in a map in an array", "\x81\xa1" "l\x91\x82\xa1" "y\xc0\xa1" "y\xc0", "\"y\" twice"},
      {"the same key in two maps", "\x82\xa1" "p\x81\xa1" "k\x01\xa1" "q\x81\xa1" "k\x02", nullptr},
      {"an integer key", "\x81\x01\x02", "not a string"},
      {"a map as a key", "\x81\x80\x01", "not a string"},
  };
  for (const auto& r : rows) {
    ASSERT_TRUE(check_detail(r.detail)) << r.name << ": well-formed, within the limits";
    const auto keys = check_keys(r.detail);
    const auto p = check_entry({"s", "T", r.detail, "", nullptr});
    if (!r.problem) {
      EXPECT_TRUE(keys) << r.name << ": " << keys.err().message;
      EXPECT_FALSE(p) << r.name << ": " << p.message;
      continue;
    }
    ASSERT_FALSE(keys) << r.name;
    EXPECT_NE(keys.err().message.find(r.problem), std::string::npos) << r.name << ": " << keys.err().message;
    EXPECT_EQ(p.code, "MalformedDetail") << r.name;
  }
  // Many keys, one repeated far apart (the sorted check), and none.
  std::string wide = "\xde\x01\x00";
  for (int i = 0; i < 256; ++i) {
    const std::string k = "k" + std::to_string(i == 255 ? 7 : i);
    wide += static_cast<char>(0xa0 | k.size());
    wide += k;
    wide += '\x01';
  }
  EXPECT_FALSE(check_keys(wide));
  EXPECT_TRUE(check_keys(wide_detail(max_detail_items)));
  EXPECT_TRUE(check_keys(nested_detail(max_detail_depth)));
}

TEST(limits, the_encoder_refuses_what_a_receiver_would) {
  envelope ev;
  ev.id = make_uuid();
  ev.source = "s";
  ev.detail_type = "T";
  ev.origin = "n";
  for (const auto& detail : {nested_detail(max_detail_depth + 1), wide_detail(max_detail_items + 1),
                             detail_with_string(max_envelope_bytes)}) {
    ev.detail = detail;
    std::string out = "kept";
    EXPECT_FALSE(encode(ev, out));
    EXPECT_EQ(out, "kept");  // nothing half-written
  }
  ev.detail = detail_with_string(1);
  ev.source = std::string(max_string_bytes + 1, 's');
  std::string out;
  EXPECT_FALSE(encode(ev, out));
}

TEST(limits, a_put_with_an_oversized_entry_still_decodes_so_it_can_be_answered_per_entry) {
  control_request r;
  r.verb = "put";
  r.entries.push_back({"s", "T", detail_with_string(300000), "", {}, {}});
  r.entries.push_back({"s", "T", detail_with_string(1), "", {}, "key-1"});
  auto back = decode_request(encode(r));
  ASSERT_TRUE(back) << back.err().to_string();
  ASSERT_EQ(back->entries.size(), 2u);
  EXPECT_EQ(back->entries[1].idempotency_key, "key-1");
  const auto& big = back->entries[0];
  EXPECT_EQ(check_entry({big.source, big.detail_type, big.detail, big.correlation_id, &big.resources}).code,
            "InvalidArgument");
  // A request over what a node's socket takes is refused as a whole.
  std::string huge(max_request_bytes + 1, '\0');
  EXPECT_FALSE(decode_request(huge));
}

TEST(replay_batch, carries_each_event_with_its_seq_and_reads_events_it_cannot_decode) {
  replay_batch b{"T", 7, 9, 3, {{3, "\x80"}, {5, std::string(max_envelope_bytes + 10, 'x')}}};
  auto back = decode_replay_batch(encode(b));
  ASSERT_TRUE(back) << back.err().to_string();
  ASSERT_EQ(back->events.size(), 2u);
  EXPECT_EQ(back->events[0].first, 3u);
  EXPECT_EQ(back->events[1].first, 5u);
  EXPECT_EQ(back->events[1].second.size(), max_envelope_bytes + 10);
  EXPECT_FALSE(decode(back->events[1].second));  // the event alone is refused, not the batch
}

TEST(log_limit, lets_one_line_a_key_through_per_interval_and_counts_the_rest) {
  using namespace std::chrono_literals;
  log_limit lim(10s, 2);
  const auto t0 = log_limit::clock::time_point{} + 1h;
  EXPECT_EQ(lim.admit("a", t0), 0u);
  EXPECT_FALSE(lim.admit("a", t0 + 1s));
  EXPECT_FALSE(lim.admit("a", t0 + 2s));
  EXPECT_EQ(lim.admit("b", t0 + 2s), 0u);  // another key has its own
  EXPECT_EQ(lim.admit("a", t0 + 11s), 2u);  // and says how many were held back
  // Made-up keys cannot grow it: past max_keys they share one line.
  EXPECT_TRUE(lim.admit("c", t0 + 12s));  // "b" was quiet: forgotten
  EXPECT_TRUE(lim.admit("k0", t0 + 13s));
  for (int i = 1; i < 1000; ++i)
    EXPECT_FALSE(lim.admit("k" + std::to_string(i), t0 + 13s));
}

} // namespace
} // namespace troupe::wire
