// Reading back the rows a service recorded, when it restores.
//
// Rows come from the node's own store and were written by this service's
// own handlers, so a row that cannot be read means the store and the code
// disagree (corruption, or a row format changed without a migration).
// Restoring then fails loudly with `restore_error`, which stops the service
// from starting: a seat service that silently forgot a sold seat, or a
// ticket service that forgot its counter, would break the saga's guarantees
// later and far from the cause. Tables a service does not know are skipped,
// so a newer build's extra tables do not stop an older one.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace troupe {

/// A stored row that cannot be restored; the message names the service,
/// the table, the key and every problem.
class restore_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws `restore_error` as "restore <service>: <table>/<key>: <why>".
[[noreturn]] void fail_restore(const char* service, const std::string& table, const std::string& key,
                               const std::string& why);

/// Reads one row's fields, collecting every problem; `check()` throws
/// `restore_error` when there was any. Readers return a neutral value for a
/// bad field so that all problems are found in one pass.
class row_reader {
 public:
  row_reader(const char* service, const std::string& table, const std::string& key, const nlohmann::json& row);

  /// A non-empty string.
  std::string text(const char* field);
  /// A non-empty string, or nullopt for null or a missing field.
  std::optional<std::string> optional_text(const char* field);
  /// A finite number.
  double number(const char* field);
  /// An integer (negative allowed).
  std::int64_t integer(const char* field);
  /// An integer of at least 1 (row sequence numbers, counters).
  std::uint64_t positive(const char* field);

  /// Records a problem the caller found itself.
  void fail(const char* field, const std::string& what);

  /// Throws `restore_error` naming every problem found so far.
  void check() const;

 private:
  const nlohmann::json* find(const char* field);

  const char* service_;
  const std::string& table_;
  const std::string& key_;
  const nlohmann::json& row_;
  std::string error_;
};

} // namespace troupe
