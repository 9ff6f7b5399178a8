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
//
// Stored state (see `service::restore`), one table:
//
//   emails   key: booking id
//            value: {"kind": "confirmed"|"cancelled", "file": path of the
//                    message when it was written, "seq": order from 1}
//
// Queries: "emails" (the rows, in order), and "mails", a page of the
// messages in the Maildir as `troupe audit` reads them (read_mail_page, on
// the host that has the Maildir): args {"after": path, "limit": n (1 to
// 10000, default 1000)}, answer {"maildir": its root, "mails": [{"booking_id",
// "kind", "key", "path"}...], "next": the last path when more follow, else
// null}, or {"maildir", "error"} when it cannot be read. A Maildir that
// does not exist has no messages.
//
// Writing the message is a side effect outside the runtime's transaction:
// a node killed after the write and before the commit gets the event again
// after its restart, without the row. So the message's Maildir name is
// derived from its booking (`mail_file_name`), and before writing, the
// service looks in new/ and cur/ for a message of that booking (a reader
// may have moved it to cur/ and added flags). Finding one, it records the
// row and sends nothing: one email per booking, whatever crashes. Which
// emails were sent is known from the rows; the Maildir is scanned once
// when it becomes ready, only to find messages whose row was lost.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "apps/flight/services/maildir.hpp"
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

/// The part of a Maildir name that names a booking: "B" and the booking id
/// with every byte outside [A-Za-z0-9_-] written as %XX; or, when that
/// would be longer than 100 bytes, "H" and the 16 hex digits of the id's
/// 64-bit FNV-1a hash (file names are limited to 255 bytes and ids to 4 KB).
/// Two long ids share a key only on a hash collision.
std::string mail_key(std::string_view booking_id);

/// The booking id of a "B" key; nullopt for an "H" key or a malformed one.
std::optional<std::string> booking_of_mail_key(std::string_view key);

/// The Maildir name of a booking's email: "<seconds>.<key>.<host>", the
/// seconds of `time_ms` (the event's time), a valid unique Maildir name.
std::string mail_file_name(std::int64_t time_ms, std::string_view booking_id);

/// The key in a Maildir file name made by `mail_file_name`, also after a
/// reader appended ":2,<flags>"; nullopt for any other name.
std::optional<std::string> mail_key_of_file(std::string_view file_name);

/// One message to render.
struct mail_message {
  std::string from_name;   // may be empty
  std::string from;        // address
  std::string to_name;     // display name, may be empty
  std::string to_address;
  std::string subject;
  std::string message_id;  // without the angle brackets
  std::string booking_id;  // for X-Troupe-Booking
  std::string outcome;     // for X-Troupe-Outcome ("confirmed" or "cancelled"); none when empty
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
  std::string kind;       // "confirmed" or "cancelled"
  std::string file;       // path of the message when it was written (or found)
  std::uint64_t seq = 0;  // order, from 1
};

struct mail_log {
  std::map<std::uint64_t, std::string> order;  // seq -> booking id
  std::unordered_map<std::string, email_record> by_booking;
  std::uint64_t last_seq = 0;

  /// Adds or replaces `r`, giving it the next sequence number when it has none.
  void insert(email_record r);
};

class notification_service final : public service {
 public:
  notification_service(mailbox_address from, std::filesystem::path maildir_path, bool sync_writes = true);

  /// Table "emails"; throws `restore_error` for a row it cannot read.
  void restore(const std::string& table, const std::string& key, const nlohmann::json& value) override;
  /// Creates the Maildir and finds the messages already in it. A failure
  /// is remembered and retried on the next event, which then fails as
  /// transient.
  void start() override;
  handled handle(const event_in& ev) override;

  /// "emails": rows {booking_id, kind, file}.
  nlohmann::json query(const std::string& what, const nlohmann::json& args) const override;

 private:
  handled send(const event_in& ev, const std::string& booking_id, const std::string& kind, mail_message m);
  void record(const event_in& ev, const std::string& booking_id, const std::string& kind, const std::string& file);
  // Creates the Maildir and indexes its messages by booking key.
  result<void> make_ready();

  mailbox_address from_;
  std::string domain_;  // of `from_`, for Message-IDs
  maildir maildir_;
  bool ready_ = false;
  mail_log log_;
  std::unordered_map<std::string, std::string> on_disk_;  // mail key -> a message of that booking
};

std::unique_ptr<service> make_notification(const YAML::Node& settings, const service_context& ctx,
                                           cluster::diagnostics& diag);

} // namespace troupe::flight
