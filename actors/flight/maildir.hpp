// Delivering mail into a Maildir, as MTAs do.
//
// A message is written under tmp/ with a name no other delivery can have
// (`<seconds>.<pid>_<counter>.<host>`), flushed to disk, then renamed into
// new/: a reader never sees a half-written message, and a crash leaves at
// most a stray file in tmp/. Construction does no I/O; `create` makes the
// directories.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "wire/error.hpp"

namespace troupe::flight {

class maildir {
 public:
  explicit maildir(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }

  /// Creates root/, tmp/, new/ and cur/ as needed. Fails with `errc::io`
  /// naming the path and the system's reason.
  result<void> create() const;

  /// Writes `message` (bytes as given) into new/. Returns the file's path.
  /// Fails with `errc::io` naming the path and the system's reason.
  result<std::filesystem::path> deliver(std::string_view message) const;

  /// A fresh file name per the Maildir convention, unique within this host.
  static std::string unique_name();

  /// This host's name with '/' and ':' escaped as the Maildir spec asks.
  static const std::string& host_name();

 private:
  std::filesystem::path root_;
};

} // namespace troupe::flight
