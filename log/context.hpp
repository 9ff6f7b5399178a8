// A log line's context: the runtime and the services put what a line is
// about first, in one bracket of `key=value` words (`[service=payment
// rule=charge-new-bookings corr=B-42 event=0190... attempt=2] message`),
// so that a saga can be followed by grepping one correlation id. This
// reads that bracket back, for the JSON format's fields.
//
// A value runs to the next space or `]`: the runtime's values (names,
// ids, numbers) have neither. Text that does not open with such a bracket,
// or whose bracket holds anything else, has no context: it is all message.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace troupe::log {

struct context_field {
  std::string_view key;
  std::string_view value;
};

struct line_context {
  static constexpr std::size_t max_fields = 8;
  std::array<context_field, max_fields> fields{};
  std::size_t size = 0;       // fields used
  std::string_view message;   // what follows the bracket (all of the text when there is none)
};

/// Splits `text` into its leading bracket's fields and its message. The
/// views point into `text`. A key is 1 to 32 of [a-z0-9_-]; a value may be
/// empty (an event without a correlation id has `corr=`); keys do not
/// repeat; there are at most max_fields of them; the bracket is followed
/// by a space or by the end. Otherwise no fields and the whole text as the
/// message.
line_context parse_context(std::string_view text);

/// Whether `c` has a field `key`.
bool has(const line_context& c, std::string_view key);

/// The field's value, or an empty view.
std::string_view find(const line_context& c, std::string_view key);

}  // namespace troupe::log
