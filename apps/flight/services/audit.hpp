// The flight saga's invariants, checked over what the services stored.
//
// After a chaos run (nodes killed, links cut) nobody can watch the saga
// happen; what remains is each service's stored rows (the tables documented
// at the top of booking.hpp, payment.hpp, seat.hpp, ticket.hpp and
// notification.hpp) and the Maildir. `audit` reads those and says whether
// every booking ended the way the saga promises: one outcome, charged at
// most once and refunded exactly when it should be, one seat and one ticket
// exactly when confirmed, no seat or ticket number given twice, one email
// of the right kind. It is a pure function, so it is tested case by case
// and `troupe audit` only has to collect its inputs.
//
// The services' stores are read one after another, not in one snapshot,
// and a saga in flight is legitimately incomplete (Booking may not have
// seen TicketIssued while Notification already mailed it). So `audit`
// always reports what can never be right (two charges, a seat sold twice, a
// refund of a confirmed booking, two emails...), and reports what is merely
// missing (no refund yet, no email yet, a PENDING booking) only when the
// caller says the cluster is quiescent: nothing is in flight any more.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/flight/services/error.hpp"

namespace troupe::flight {

/// The rows of one table as (key, value), in any order. A key may repeat
/// when rows come from several copies of a service; each repeat is checked.
using table_rows = std::vector<std::pair<std::string, nlohmann::json>>;

/// What the services stored: service ("booking", "payment", "seat",
/// "ticket", "notification") -> table -> rows. Absent means empty.
struct stored_rows {
  std::map<std::string, std::map<std::string, table_rows>> rows;

  void add(const std::string& service, const std::string& table, std::string key, nlohmann::json value);
  /// The rows of one table; empty when there are none.
  const table_rows& table(const std::string& service, const std::string& table) const;
};

/// One message found in the Maildir.
struct mail_file {
  std::string booking_id;  // empty when the message names no booking
  std::string kind;        // "confirmed" or "cancelled" (X-Troupe-Outcome); empty when it does not say
  std::string path;
  std::string key;         // the booking key of its file name (`mail_key`), empty for other names
};

struct audit_report {
  std::map<std::string, std::size_t> bookings_by_state;    // PENDING, CONFIRMED, CANCELLED (all three present)
  std::map<std::string, std::size_t> cancelled_by_reason;
  std::map<std::string, std::size_t> payments_by_state;    // CHARGED, REFUNDED, DECLINED
  std::size_t seats_assigned = 0;
  std::size_t seats_refused = 0;
  std::size_t tickets = 0;
  std::size_t emails = 0;                                   // messages in the Maildir
  std::vector<std::string> in_flight;                       // PENDING bookings, sorted
  std::vector<std::string> violations;                      // one sentence each, naming the booking

  bool ok() const { return violations.empty(); }
  /// {"ok", "bookings", "cancelled_by_reason", "payments", "seats_assigned",
  ///  "seats_refused", "tickets", "emails", "in_flight", "violations"}.
  nlohmann::json to_json() const;
};

/// Checks the saga's invariants over `rows` and the Maildir's `mails`.
/// `quiescent`: nothing is in flight, so what is missing is a violation
/// too (a PENDING booking, a charge not refunded, an email not sent).
/// Violations come in a stable order: those of each booking (by id), then
/// those across bookings (a seat or ticket given twice, rows or messages of
/// unknown bookings). A PENDING booking in `dead_lettered` (its saga's
/// event waits in a DLQ for an operator) is counted as DEAD_LETTERED, not
/// in flight and not a violation.
audit_report audit(const stored_rows& rows, const std::vector<mail_file>& mails, bool quiescent,
                   const std::set<std::string>& dead_lettered = {});

/// The messages in a Maildir's new/ and cur/, each with the booking its
/// name carries (see `mail_file_name`), else its X-Troupe-Booking header
/// (which holds at most 200 bytes of the id: `audit` matches a message
/// named by a hashed key to its booking by the key), and the kind its
/// X-Troupe-Outcome header gives. Fails with `errc::io` when a directory
/// or a message cannot be read.
result<std::vector<mail_file>> read_mail_files(const std::filesystem::path& maildir_root);

/// A page of what read_mail_files finds, in the same (path) order: the
/// messages whose path sorts after `after` (empty: from the first), at
/// most `limit` of them. `next` is the page's last path when more follow,
/// else empty. Only the page's messages are opened.
struct mail_page {
  std::vector<mail_file> mails;
  std::string next;
};
result<mail_page> read_mail_page(const std::filesystem::path& maildir_root, const std::string& after,
                                 std::size_t limit);

/// A mail_file as JSON, {"booking_id", "kind", "key", "path"}, and back
/// (nullopt when a field is missing or not a string).
nlohmann::json to_json(const mail_file& m);
std::optional<mail_file> mail_file_of(const nlohmann::json& j);

} // namespace troupe::flight
