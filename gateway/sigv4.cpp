#include "gateway/sigv4.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace troupe::gateway {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// RFC 3986 percent-encoding of all but the unreserved characters (and
/// '/' in a path), as SigV4 wants.
std::string uri_encode(std::string_view s, bool path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (path && c == '/'))
      out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// A header's value as SigV4 signs it: trimmed, inner runs of spaces as one.
std::string canonical_value(std::string_view v) {
  v = trim(v);
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == ' ' && !out.empty() && out.back() == ' ')
      continue;
    out += c;
  }
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto end = s.find(sep, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos)
      return out;
    start = end + 1;
  }
}

const std::string* header(const signed_request& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (lower(k) == name)
      return &v;
  return nullptr;
}

verdict refuse(const char* type, std::string message) { return {"", type, std::move(message)}; }

}  // namespace

std::string to_hex(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return to_hex(std::string_view(reinterpret_cast<const char*>(md), n));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &n);
  return std::string(reinterpret_cast<const char*>(md), n);
}

std::optional<authorization> parse_authorization(std::string_view h, std::string* why) {
  const auto fail = [why](std::string m) -> std::optional<authorization> {
    if (why)
      *why = std::move(m);
    return std::nullopt;
  };
  h = trim(h);
  constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
  if (h.substr(0, algorithm.size()) != algorithm || h.size() == algorithm.size() || h[algorithm.size()] != ' ')
    return fail("Authorization header requires the AWS4-HMAC-SHA256 algorithm");
  authorization a;
  bool credential = false, headers = false, sig = false;
  for (auto part : split(h.substr(algorithm.size() + 1), ',')) {
    const auto p = trim(part);
    const auto eq = p.find('=');
    if (eq == std::string_view::npos)
      return fail("Authorization header has a part without '=': '" + std::string(p) + "'");
    const auto name = p.substr(0, eq), value = p.substr(eq + 1);
    if (name == "Credential") {
      const auto c = split(value, '/');
      if (c.size() != 5 || c[0].empty())
        return fail("Credential should be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request");
      a.access_key_id = c[0], a.date = c[1], a.region = c[2], a.service = c[3], a.terminator = c[4];
      credential = true;
    } else if (name == "SignedHeaders") {
      a.signed_headers = split(value, ';');
      headers = true;
    } else if (name == "Signature") {
      a.signature = std::string(value);
      sig = true;
    } else {
      return fail("Authorization header has an unknown part '" + std::string(name) + "'");
    }
  }
  if (!credential || !headers || !sig)
    return fail("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'");
  return a;
}

std::string canonical_request(const signed_request& r, const std::vector<std::string>& signed_headers,
                              const std::string& payload_hash) {
  std::string out = r.method + "\n";
  out += uri_encode(uri_encode(r.path.empty() ? "/" : r.path, true), true) + "\n";
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : r.query)
    q.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(q.begin(), q.end());
  for (std::size_t i = 0; i < q.size(); ++i)
    out += (i ? "&" : "") + q[i].first + "=" + q[i].second;
  out += "\n";
  for (const auto& name : signed_headers) {
    std::string joined;
    bool first = true;
    for (const auto& [k, v] : r.headers)
      if (lower(k) == name) {
        joined += (first ? "" : ",") + canonical_value(v);
        first = false;
      }
    out += name + ":" + joined + "\n";
  }
  out += "\n";
  for (std::size_t i = 0; i < signed_headers.size(); ++i)
    out += (i ? ";" : "") + signed_headers[i];
  out += "\n" + payload_hash;
  return out;
}

std::string string_to_sign(const std::string& amz_date, const std::string& scope, const std::string& canonical) {
  return "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + sha256_hex(canonical);
}

std::string signature(const std::string& secret, const std::string& date, const std::string& region,
                      const std::string& service, const std::string& to_sign) {
  auto key = hmac_sha256("AWS4" + secret, date);
  key = hmac_sha256(key, region);
  key = hmac_sha256(key, service);
  key = hmac_sha256(key, "aws4_request");
  return to_hex(hmac_sha256(key, to_sign));
}

std::optional<std::int64_t> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z')
    return std::nullopt;
  for (std::size_t i = 0; i < 15; ++i)
    if (i != 8 && !std::isdigit(static_cast<unsigned char>(s[i])))
      return std::nullopt;
  const auto num = [&](std::size_t at, std::size_t n) { return std::stoi(std::string(s.substr(at, n))); };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string format_amz_date(std::int64_t seconds) {
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string format_http_date(std::int64_t seconds) {
  static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

verdict verify(const signed_request& r, const std::string& region,
               const std::function<std::optional<std::string>(const std::string&)>& secret_of, std::int64_t now) {
  const auto* auth_header = header(r, "authorization");
  if (!auth_header)
    return refuse("MissingAuthenticationTokenException", "Missing Authentication Token");
  std::string why;
  auto a = parse_authorization(*auth_header, &why);
  if (!a)
    return refuse("IncompleteSignatureException", why);
  if (a->terminator != "aws4_request" || a->service != "events" || a->date.size() != 8)
    return refuse("IncompleteSignatureException", "Credential should be scoped to a valid date, region and the "
                                                  "'events' service, ending in aws4_request: not '"
                                                      + a->date + "/" + a->region + "/" + a->service + "/"
                                                      + a->terminator + "'");
  for (const char* must : {"host", "x-amz-date", "x-amz-target"})
    if (std::find(a->signed_headers.begin(), a->signed_headers.end(), must) == a->signed_headers.end())
      return refuse("IncompleteSignatureException", std::string("the '") + must + "' header must be signed");
  if (!std::is_sorted(a->signed_headers.begin(), a->signed_headers.end()))
    return refuse("IncompleteSignatureException", "SignedHeaders must be in lower case, sorted, separated by ';'");
  for (const auto& name : a->signed_headers)
    if (name.empty() || lower(name) != name || !header(r, name))
      return refuse("IncompleteSignatureException", "signed header '" + name + "' is not in the request");
  const auto* amz_date = header(r, "x-amz-date");
  const auto when = amz_date ? parse_amz_date(trim(*amz_date)) : std::nullopt;
  if (!when)
    return refuse("IncompleteSignatureException", "X-Amz-Date must be a date as YYYYMMDD'T'HHMMSS'Z'");
  auto secret = secret_of(a->access_key_id);
  if (!secret)
    return refuse("UnrecognizedClientException", "The security token included in the request is invalid.");
  if (a->region != region)
    return refuse("InvalidSignatureException",
                  "Credential should be scoped to a valid region, not '" + a->region + "'. (this gateway's: "
                      + region + ")");
  const std::string date(trim(*amz_date));
  if (a->date != date.substr(0, 8))
    return refuse("InvalidSignatureException", "Credential should be scoped to the date of X-Amz-Date, not '"
                                                   + a->date + "'");
  if (*when < now - max_clock_skew_s)
    return refuse("InvalidSignatureException", "Signature expired: " + date + " is now earlier than "
                                                   + format_amz_date(now - max_clock_skew_s) + " ("
                                                   + format_amz_date(now) + " - 5 min.)");
  if (*when > now + max_clock_skew_s)
    return refuse("InvalidSignatureException", "Signature not yet current: " + date + " is still later than "
                                                   + format_amz_date(now + max_clock_skew_s) + " ("
                                                   + format_amz_date(now) + " + 5 min.)");
  const auto payload = sha256_hex(r.body);
  if (const auto* claimed = header(r, "x-amz-content-sha256"); claimed && trim(*claimed) != payload)
    return refuse("InvalidSignatureException", "X-Amz-Content-SHA256 is not the SHA-256 of the body");
  const auto scope = a->date + "/" + a->region + "/" + a->service + "/" + a->terminator;
  const auto expected =
      signature(*secret, a->date, a->region, a->service,
                string_to_sign(date, scope, canonical_request(r, a->signed_headers, payload)));
  if (expected.size() != a->signature.size() ||
      CRYPTO_memcmp(expected.data(), a->signature.data(), expected.size()) != 0)
    return refuse("InvalidSignatureException",
                  "The request signature we calculated does not match the signature you provided. Check your AWS "
                  "Secret Access Key and signing method. Consult the service documentation for details.");
  return {a->access_key_id, "", ""};
}

void sign(signed_request& r, const std::string& access_key_id, const std::string& secret, const std::string& region,
          std::int64_t now) {
  const auto date = format_amz_date(now);
  r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(),
                                 [](const auto& h) {
                                   const auto n = lower(h.first);
                                   return n == "x-amz-date" || n == "authorization";
                                 }),
                  r.headers.end());
  r.headers.emplace_back("X-Amz-Date", date);
  std::vector<std::string> names;
  for (const auto& [k, v] : r.headers)
    names.push_back(lower(k));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  const auto scope = date.substr(0, 8) + "/" + region + "/events/aws4_request";
  const auto sig = signature(secret, date.substr(0, 8), region, "events",
                             string_to_sign(date, scope, canonical_request(r, names, sha256_hex(r.body))));
  std::string list;
  for (const auto& n : names)
    list += (list.empty() ? "" : ";") + n;
  r.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + access_key_id + "/" + scope
                                              + ", SignedHeaders=" + list + ", Signature=" + sig);
}

}  // namespace troupe::gateway
