// docs/PROTOCOL.md's worked example, held to the code: the bytes on the
// page are what wire::encode writes for the request it describes and what
// encode_reply writes for its reply, and they decode to those fields. A
// change to the encoding, or to the page, fails here until both agree.
#include <gtest/gtest.h>

#include "tests/support/doc_bytes.hpp"
#include "wire/control.hpp"
#include "wire/msgpack_io.hpp"

namespace troupe::wire {
namespace {

using test::doc_bytes;
using test::hex;

/// The page, read anew by each test: one that cannot be read fails the
/// test with the reason (gtest reports the exception), never the binary.
std::string page() { return test::read_source_file("docs/PROTOCOL.md"); }

/// The detail of the page's example: a BookingRequested as the flight
/// application reads it, its fields in this order.
std::string booking_detail() {
  std::string out;
  string_sink sink{out};
  msgpack::packer<string_sink> pk(sink);
  pk.pack_map(6);
  for (const auto& [k, v] : {std::pair<std::string, std::string>{"customer", "Ada Lovelace"},
                             {"email", "ada@example.com"},
                             {"flight", "TR100"},
                             {"seat_preference", "window"}}) {
    pk.pack(k);
    pk.pack(v);
  }
  pk.pack(std::string("amount"));
  pk.pack_double(249.9);
  pk.pack(std::string("card"));
  pk.pack(std::string("4111111111111111"));
  return out;
}

control_request put_request() {
  control_request r;
  r.verb = "put";
  r.entries.push_back({"troupe.client", "BookingRequested", booking_detail(), "", {}, "booking-ada-1"});
  return r;
}

const std::string event_id = "01a251d7-c666-7467-a05d-db67917d01f9";

control_reply put_reply() {
  control_reply r;
  r.ok = true;
  r.results.push_back({event_id, "", ""});
  return r;
}

control_request status_request() {
  control_request r;
  r.verb = "status";
  return r;
}

struct example_case {
  const char* name;  // the example's name on the page
  std::string encoded;
};

TEST(protocol_doc, each_example_is_what_the_code_encodes) {
  const std::vector<example_case> cases = {
      {"put-request", encode(put_request())},
      {"put-reply", encode_reply(put_reply(), "put")},
      {"status-request", encode(status_request())},
  };
  const auto text = page();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto ex = doc_bytes(text, c.name);
    ASSERT_TRUE(ex.problem.empty()) << ex.problem;
    EXPECT_EQ(hex(ex.bytes), hex(c.encoded));
  }
}

TEST(protocol_doc, the_put_example_decodes_to_the_fields_the_page_names) {
  const auto text = page();
  const auto ex = doc_bytes(text, "put-request");
  ASSERT_TRUE(ex.problem.empty()) << ex.problem;
  auto req = decode_request(ex.bytes);
  ASSERT_TRUE(req) << req.err().to_string();
  EXPECT_EQ(req->verb, "put");
  ASSERT_EQ(req->entries.size(), 1u);
  const auto& e = req->entries[0];
  EXPECT_EQ(e.source, "troupe.client");
  EXPECT_EQ(e.detail_type, "BookingRequested");
  EXPECT_EQ(hex(e.detail), hex(booking_detail()));
  EXPECT_EQ(e.correlation_id, "");
  EXPECT_TRUE(e.resources.empty());
  EXPECT_EQ(e.idempotency_key, "booking-ada-1");
  EXPECT_FALSE(check_entry({e.source, e.detail_type, e.detail, e.correlation_id, &e.resources}));

  const auto reply = doc_bytes(text, "put-reply");
  ASSERT_TRUE(reply.problem.empty()) << reply.problem;
  auto rep = decode_reply(reply.bytes, "put");
  ASSERT_TRUE(rep) << rep.err().to_string();
  ASSERT_TRUE(rep->ok);
  ASSERT_EQ(rep->results.size(), 1u);
  EXPECT_EQ(rep->results[0].id, event_id);
  EXPECT_TRUE(rep->results[0].ok());
}

TEST(protocol_doc, a_line_that_is_not_hex_is_a_problem_not_skipped) {
  EXPECT_EQ(doc_bytes("<!-- bytes: x -->\n```\n92 01  # ok\n```\n", "x").bytes, std::string("\x92\x01"));
  EXPECT_FALSE(doc_bytes("<!-- bytes: x -->\n```\n92 0g\n```\n", "x").problem.empty());
  EXPECT_FALSE(doc_bytes("<!-- bytes: x -->\n```\n92 01\n", "x").problem.empty());
  EXPECT_FALSE(doc_bytes("<!-- bytes: x -->\nno fence\n", "x").problem.empty());
  EXPECT_FALSE(doc_bytes("nothing here", "x").problem.empty());
}

} // namespace
} // namespace troupe::wire
