// Log levels as journald priorities. A process whose stdout systemd
// connected to the journal (StandardOutput=journal, the default) finds
// $JOURNAL_STREAM set to that stream's "DEVICE:INODE" (systemd.exec(5));
// a line it writes there opening with sd-daemon's `<N>` (sd-daemon(3)) is
// stored with priority N and without the prefix (SyslogLevelPrefix=yes,
// the default). A child whose stdout is a pipe to its parent inherits the
// variable, but its stdout is not that stream: it writes no prefix.
#pragma once

#include <string_view>

#include <spdlog/common.h>

namespace troupe::log {

/// Whether `fd` is the stream `journal_stream` names ("DEVICE:INODE" in
/// decimal, as $JOURNAL_STREAM has it); false for a null or malformed one.
bool is_journal_stream(int fd, const char* journal_stream);

/// Whether this process's stdout is the journal ($JOURNAL_STREAM).
bool stdout_is_journal();

/// sd-daemon's prefix for `level`: critical <2>, error <3>, warning <4>,
/// info <6>, debug and trace <7>.
std::string_view priority_prefix(spdlog::level::level_enum level);

}  // namespace troupe::log
