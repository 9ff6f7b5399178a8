// A node's ready marker, `<data-dir>/ready`: what an engine without
// sd_notify (a Kubernetes exec probe, `troupe probe`) reads to tell
// whether the node is ready. The node writes it when it tells systemd
// READY=1 (sockets bound, store open) and removes it when it starts and
// when it stops. It names the process that wrote it, by pid and start
// time, so a marker left behind by a node that was killed never speaks for
// a later process that happens to get the same pid (a container's pid 1).
#pragma once

#include <filesystem>

#include "wire/error.hpp"

namespace troupe::runtime {

/// `<data_dir>/ready`.
std::filesystem::path ready_marker_path(const std::filesystem::path& data_dir);

/// Writes the marker for this process (atomically: a reader sees the whole
/// marker or none). Fails with io when it cannot.
result<void> write_ready_marker(const std::filesystem::path& data_dir);

/// Removes the marker, if there is one; never fails (a marker that stays
/// names a process that is gone, and reads as not ready).
void remove_ready_marker(const std::filesystem::path& data_dir);

/// The pid of the live process that wrote the marker in `data_dir`. Fails
/// with io, saying why, when there is no marker, it cannot be read, or its
/// process is gone.
result<int> ready_process(const std::filesystem::path& data_dir);

} // namespace troupe::runtime
