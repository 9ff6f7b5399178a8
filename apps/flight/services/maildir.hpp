// Delivering mail into a Maildir, as MTAs do.
//
// A message is written under tmp/ with a name no other delivery can have
// (`<seconds>.<pid>_<counter>.<host>`), flushed to disk, then renamed into
// new/: a reader never sees a half-written message, and a crash leaves at
// most a stray file in tmp/. Construction does no I/O; `create` makes the
// directories.
//
// A sender that must not deliver twice across its own crashes (the
// notification service) chooses the name itself with `deliver_as`, one name
// per message it means to send, and looks for that name in new/ and cur/
// before sending again: a mail reader moves a message from new/ to cur/ and
// appends ":2,<flags>" to its name, but keeps the rest of the name.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "apps/flight/services/error.hpp"

namespace troupe::flight {

class maildir {
 public:
  /// With `sync`, every delivery is flushed to disk (file and directory)
  /// before it counts: it survives a power loss. Without, it survives a
  /// crash of the process, as the page cache keeps it.
  explicit maildir(std::filesystem::path root, bool sync = true) : root_(std::move(root)), sync_(sync) {}

  const std::filesystem::path& root() const { return root_; }

  /// Creates root/, tmp/, new/ and cur/ as needed. Fails with `errc::io`
  /// naming the path and the system's reason.
  result<void> create() const;

  /// Writes `message` (bytes as given) into new/. Returns the file's path.
  /// Fails with `errc::io` naming the path and the system's reason.
  result<std::filesystem::path> deliver(std::string_view message) const;

  /// Writes `message` into new/ as `name`, which the caller keeps unique
  /// (a valid Maildir name: no '/', no ':'). A stale tmp/`name` left by a
  /// crashed attempt is overwritten; a message already in new/ under that
  /// name is kept, not replaced, and its path returned. Fails with
  /// `errc::io` naming the path and the system's reason.
  result<std::filesystem::path> deliver_as(const std::string& name, std::string_view message) const;

  /// Every message in new/ and cur/ (never tmp/). Fails with `errc::io`
  /// when a directory cannot be read.
  result<std::vector<std::filesystem::path>> messages() const;

  /// `file_name` without the ":2,<flags>" a reader appends in cur/.
  static std::string_view base_name(std::string_view file_name);

  /// A fresh file name per the Maildir convention, unique within this host.
  static std::string unique_name();

  /// This host's name with '/' and ':' escaped as the Maildir spec asks.
  static const std::string& host_name();

 private:
  std::filesystem::path root_;
  bool sync_ = true;
};

} // namespace troupe::flight
