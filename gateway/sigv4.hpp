// AWS Signature Version 4, as a server checks it: the request's canonical
// form and string to sign are rebuilt from what arrived, signed again with
// the secret of the access key the request names, and compared in
// constant time. Nothing here does I/O, so that every rule is unit-tested.
//
// What is refused, with EventBridge's error types:
//   MissingAuthenticationTokenException  no Authorization header
//   IncompleteSignatureException         a malformed one, an algorithm other
//                                        than AWS4-HMAC-SHA256, a scope not
//                                        DATE/REGION/events/aws4_request,
//                                        no X-Amz-Date, or host, x-amz-date
//                                        and x-amz-target not all signed
//   UnrecognizedClientException          an access key not listed
//   InvalidSignatureException            a signature that does not match, a
//                                        scope for another region or day, a
//                                        payload hash that is not the body's,
//                                        or a date more than 5 minutes from now
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::gateway {

/// Lower-case hex of SHA-256(`data`), and of HMAC-SHA-256(`key`, `data`) raw.
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);

/// A request as it arrived: header names in any case, a name repeated as
/// often as it came.
struct signed_request {
  std::string method;
  std::string path;  // decoded, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view body;
};

/// The Authorization header's parts.
struct authorization {
  std::string access_key_id, date, region, service, terminator;
  std::vector<std::string> signed_headers;  // as given (lower case, sorted)
  std::string signature;                    // hex
};
std::optional<authorization> parse_authorization(std::string_view header, std::string* why);

/// SigV4's canonical request and string to sign.
std::string canonical_request(const signed_request& r, const std::vector<std::string>& signed_headers,
                              const std::string& payload_hash);
std::string string_to_sign(const std::string& amz_date, const std::string& scope, const std::string& canonical);
/// The signature of `to_sign` by `secret`, for `date` (YYYYMMDD), `region`, `service`.
std::string signature(const std::string& secret, const std::string& date, const std::string& region,
                      const std::string& service, const std::string& to_sign);

/// `YYYYMMDDTHHMMSSZ` to seconds since the epoch; nullopt when malformed.
std::optional<std::int64_t> parse_amz_date(std::string_view s);
std::string format_amz_date(std::int64_t seconds);
/// `seconds` as an HTTP Date header (RFC 7231's IMF-fixdate, in GMT,
/// whatever the locale): every answer carries one, so that a client whose
/// signature was refused for its clock corrects the clock by it and signs
/// again, as the AWS SDKs do.
std::string format_http_date(std::int64_t seconds);

struct verdict {
  std::string access_key_id;        // set when the signature is good
  std::string error_type, message;  // set when it is not
  bool ok() const { return error_type.empty(); }
};

/// Checks `r`'s signature. `secret_of` gives an access key's secret, or
/// nullopt for a key not listed; `now` is seconds since the epoch.
verdict verify(const signed_request& r, const std::string& region,
               const std::function<std::optional<std::string>(const std::string&)>& secret_of, std::int64_t now);

/// Signs `r` as a client does (the CLI's own requests and tests), adding
/// X-Amz-Date, Host if missing, and Authorization; every header is signed.
void sign(signed_request& r, const std::string& access_key_id, const std::string& secret, const std::string& region,
          std::int64_t now);

/// How far a request's date may be from the server's clock, as AWS's.
inline constexpr std::int64_t max_clock_skew_s = 5 * 60;

}  // namespace troupe::gateway
