// Whether a directory the config names can hold data: the cluster's
// data-dir, and directories that services write to (a Maildir).
//
// A directory that does not exist yet is fine when it can be made: its
// nearest existing ancestor is a directory on a file system that stores
// files. Kernel file systems (/proc, /sys, cgroup, ...) take a mkdir or a
// write only where the kernel means one, and never keep data. Permissions
// are not checked: the config is checked by whoever runs `troupe check`,
// not necessarily by the user the nodes run as.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace troupe::cluster {

/// Why `dir` cannot hold data (e.g. "'/x' exists and is not a directory"),
/// or nullopt when it can. A relative `dir` is taken from the current
/// directory.
std::optional<std::string> directory_problem(const std::filesystem::path& dir);

} // namespace troupe::cluster
