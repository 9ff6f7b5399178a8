// Reading an event's detail without trusting it.
//
// Events come from other nodes and may be malformed; a malformed event is
// a permanent failure (retrying cannot fix it), never a crash. A
// `detail_reader` reads every field a handler needs and collects each
// problem as `detail.<field>: <what is wrong>`, so the handler checks once
// and the error names every bad field.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace troupe {

class detail_reader {
 public:
  explicit detail_reader(const nlohmann::json& detail);

  /// A non-empty string. Returns "" (and records a problem) otherwise.
  std::string text(const char* field);
  /// A string, possibly empty.
  std::string any_text(const char* field);
  /// A finite number greater than zero (a money amount).
  double amount(const char* field);
  /// An email address (see `valid_address`).
  std::string address(const char* field);

  /// Records a problem with a field the caller checked itself.
  void fail(const char* field, const std::string& what);

  bool ok() const { return error_.empty(); }
  /// Every problem, separated by "; ".
  const std::string& error() const { return error_; }

 private:
  const nlohmann::json* find(const char* field);

  const nlohmann::json& detail_;
  std::string error_;
};

/// True for `local@domain` with exactly one '@', a non-empty local part and
/// domain, and none of the characters that would let a value break out of
/// an address header (whitespace, controls, `<>()[],;:"\`).
bool valid_address(std::string_view address);

} // namespace troupe
