// Notification: tells the customer how their booking ended, by email.
//
//   services:
//     notification:
//       from: bookings@troupe.example   # required; "Name <address>" works too
//       maildir: mail                   # relative to the config file;
//                                       # default <node data dir>/maildir
//
// A confirmed booking (TicketIssued) and a cancelled one (BookingCancelled)
// each produce one RFC 5322 message delivered into the Maildir; a booking
// is mailed at most once whatever arrives later. Header values that come
// from events lose their line breaks (no header injection) and non-ASCII
// text is sent as RFC 2047 encoded words.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors/flight/maildir.hpp"
#include "actors/service.hpp"

namespace troupe::flight {

/// An address with an optional display name, as `from:` accepts it:
/// "bookings@example.com" or "Bookings <bookings@example.com>".
struct mailbox_address {
  std::string name;  // may be empty
  std::string address;
};

/// Reads either form; nullopt when the address part is not an address or
/// the name holds a control character or angle bracket.
std::optional<mailbox_address> parse_mailbox(std::string_view text);

/// One message to render.
struct mail_message {
  std::string from_name;   // may be empty
  std::string from;        // address
  std::string to_name;     // display name, may be empty
  std::string to_address;
  std::string subject;
  std::string message_id;  // without the angle brackets
  std::string booking_id;  // for X-Troupe-Booking
  std::int64_t date_ms = 0;
  std::vector<std::string> body_lines;
};

/// The message as RFC 5322 text with CRLF line endings.
std::string render(const mail_message& m);

/// "Tue, 01 Jul 2025 12:34:56 +0000", independent of the locale.
std::string rfc5322_date(std::int64_t time_ms);

/// `s` without CR, LF or other control characters (a tab becomes a space),
/// cut to at most `max_bytes` on a UTF-8 character boundary.
std::string header_safe(std::string_view s, std::size_t max_bytes = 200);

struct email_record {
  std::string booking_id;
  std::string kind;  // "confirmed" or "cancelled"
  std::string file;  // path of the message in new/
};

struct mail_log {
  std::vector<std::string> order;
  std::unordered_map<std::string, email_record> by_booking;
};

class notification_service final : public service {
 public:
  notification_service(mailbox_address from, std::filesystem::path maildir_path);

  /// Creates the Maildir. A failure is remembered and retried on the next
  /// event, which then fails as transient.
  void start() override;
  handled handle(const event_in& ev) override;

  /// "emails": rows {booking_id, kind, file}.
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  handled send(const event_in& ev, const std::string& booking_id, const std::string& kind, mail_message m);
  std::string next_message_id();

  mailbox_address from_;
  std::string domain_;  // of `from_`, for Message-IDs
  maildir maildir_;
  bool ready_ = false;
  mail_log log_;
};

std::unique_ptr<service> make_notification(const YAML::Node& settings, const service_context& ctx,
                                           cluster::diagnostics& diag);

} // namespace troupe::flight
