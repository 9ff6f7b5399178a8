// SigV4 as the gateway checks it: AWS's published example, a request that
// botocore signed (an implementation nobody here wrote), and every refusal.
#include "gateway/sigv4.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace troupe::gateway {
namespace {

constexpr const char* secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

TEST(sigv4, aws_documented_example_signs_as_aws_does) {
  // IAM's ListUsers example from AWS's SigV4 documentation.
  signed_request r;
  r.method = "GET";
  r.path = "/";
  r.query = {{"Version", "2010-05-08"}, {"Action", "ListUsers"}};
  r.headers = {{"Host", "iam.amazonaws.com"},
               {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
               {"X-Amz-Date", "20150830T123600Z"}};
  const auto canonical = canonical_request(r, {"content-type", "host", "x-amz-date"}, sha256_hex(""));
  EXPECT_EQ(canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
            "content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex(canonical), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  const auto to_sign = string_to_sign("20150830T123600Z", "20150830/us-east-1/iam/aws4_request", canonical);
  EXPECT_EQ(signature(secret, "20150830", "us-east-1", "iam", to_sign),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

// Signed by botocore 1.29 (Debian's python3-botocore) at 2026-12-07 12:00:00 UTC.
const std::string boto_body =
    R"({"Entries":[{"Source":"flight.web","DetailType":"BookingRequested","Detail":"{\"a\": 1}"}]})";
constexpr std::int64_t boto_time = 1796644800;  // 20261207T120000Z

signed_request boto_request() {
  signed_request r;
  r.method = "POST";
  r.path = "/";
  r.headers = {{"Host", "127.0.0.1:8088"},
               {"X-Amz-Target", "AWSEvents.PutEvents"},
               {"Content-Type", "application/x-amz-json-1.1"},
               {"X-Amz-Date", "20261207T120000Z"},
               {"User-Agent", "aws-cli/2.9.19"},
               {"Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIATROUPETEST000001/20261207/us-east-1/events/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                "Signature=e393dd1cff0e035a9ab4e5e3d7c5771f3e297917fd0440acc262fb0aa0994001"}};
  r.body = boto_body;
  return r;
}

std::optional<std::string> known(const std::string& id) {
  if (id == "AKIATROUPETEST000001")
    return std::string(secret);
  return std::nullopt;
}

TEST(sigv4, a_request_botocore_signed_is_taken) {
  ASSERT_EQ(parse_amz_date("20261207T120000Z"), boto_time);
  const auto v = verify(boto_request(), "us-east-1", known, boto_time + 30);
  EXPECT_TRUE(v.ok()) << v.error_type << ": " << v.message;
  EXPECT_EQ(v.access_key_id, "AKIATROUPETEST000001");
}

TEST(sigv4, our_own_signing_is_taken_and_round_trips) {
  signed_request r;
  r.method = "POST";
  r.path = "/";
  r.headers = {{"Host", "127.0.0.1:9"}, {"X-Amz-Target", "AWSEvents.ListRules"}, {"Content-Type", "x"}};
  r.body = "{}";
  sign(r, "AKIATROUPETEST000001", secret, "us-east-1", boto_time);
  EXPECT_TRUE(verify(r, "us-east-1", known, boto_time).ok());
}

TEST(sigv4, every_refusal_has_its_type) {
  struct refusal {
    const char* name;
    std::function<void(signed_request&)> change;
    const char* type;
    std::int64_t now = boto_time;
  };
  const auto set = [](const char* header, std::string value) {
    return [header, value](signed_request& r) {
      for (auto& [k, v] : r.headers)
        if (k == header)
          v = value;
    };
  };
  const std::string auth = boto_request().headers.back().second;
  const auto auth_with = [&](std::string from, std::string to) {
    auto a = auth;
    a.replace(a.find(from), from.size(), to);
    return set("Authorization", a);
  };
  std::string body_changed = boto_body;
  body_changed[body_changed.find("1}")] = '2';
  const std::vector<refusal> cases = {
      {"no Authorization", [](auto& r) { r.headers.pop_back(); }, "MissingAuthenticationTokenException"},
      {"another algorithm", auth_with("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), "IncompleteSignatureException"},
      {"no Signature", auth_with(", Signature=", ", Sig="), "IncompleteSignatureException"},
      {"a scope of another service", auth_with("/events/", "/sqs/"), "IncompleteSignatureException"},
      {"x-amz-target not signed", auth_with("x-amz-date;x-amz-target", "x-amz-date"),
       "IncompleteSignatureException"},
      {"a malformed date", set("X-Amz-Date", "2026-12-07"), "IncompleteSignatureException"},
      {"an unknown access key", auth_with("AKIATROUPETEST000001", "AKIATROUPETEST000002"),
       "UnrecognizedClientException"},
      {"another region", auth_with("/us-east-1/", "/eu-west-1/"), "InvalidSignatureException"},
      {"a changed body", [&](auto& r) { r.body = body_changed; }, "InvalidSignatureException"},
      {"a changed target", set("X-Amz-Target", "AWSEvents.ListRules"), "InvalidSignatureException"},
      {"a changed host", set("Host", "127.0.0.1:8089"), "InvalidSignatureException"},
      {"a wrong signature", auth_with("Signature=e", "Signature=f"), "InvalidSignatureException"},
      {"a claimed payload hash not the body's",
       [](auto& r) { r.headers.emplace_back("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"); },
       "InvalidSignatureException"},
      {"6 minutes late", [](auto&) {}, "InvalidSignatureException", boto_time + 6 * 60},
      {"6 minutes early", [](auto&) {}, "InvalidSignatureException", boto_time - 6 * 60},
  };
  for (const auto& c : cases) {
    auto r = boto_request();
    c.change(r);
    const auto v = verify(r, "us-east-1", known, c.now);
    EXPECT_EQ(v.error_type, c.type) << c.name << ": " << v.message;
    EXPECT_TRUE(v.access_key_id.empty()) << c.name;
  }
  // Within the five minutes either way, it is taken.
  EXPECT_TRUE(verify(boto_request(), "us-east-1", known, boto_time + 5 * 60).ok());
  EXPECT_TRUE(verify(boto_request(), "us-east-1", known, boto_time - 5 * 60).ok());
}

TEST(sigv4, header_values_are_trimmed_and_repeated_headers_joined) {
  signed_request a;
  a.method = "POST";
  a.path = "/";
  a.headers = {{"X-Custom", "  one   two  "}, {"x-custom", "three"}};
  EXPECT_EQ(canonical_request(a, {"x-custom"}, "h"), "POST\n/\n\nx-custom:one two,three\n\nx-custom\nh");
}

// The Date header of every answer, as RFC 7231 writes it: the JavaScript
// SDK reads it back with Date.parse to correct a skewed clock.
TEST(sigv4, http_dates_are_rfc_7231s_fixdate) {
  struct date_case {
    std::int64_t seconds;
    const char* text;
  };
  const std::vector<date_case> cases = {
      {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
      {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},  // RFC 7231's own example
      {1440938160, "Sun, 30 Aug 2015 12:36:00 GMT"},  // AWS's SigV4 example date
      {1796644800, "Mon, 07 Dec 2026 12:00:00 GMT"},
      {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(format_http_date(c.seconds), c.text) << c.seconds;
}

}  // namespace
}  // namespace troupe::gateway
