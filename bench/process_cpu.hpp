// CPU time of the processes a bench measures, read from /proc: the kernel's
// utime + stime of a whole process (every thread, live or exited), so that
// a figure such as "CPU µs per event" counts the I/O, wire, CAF and store
// threads alike. The bench reads it before and after a run and divides the
// difference by what the run delivered.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>

namespace troupe::bench {

/// utime + stime of process `pid` in seconds (clock ticks, so 10 ms steps
/// at the usual 100 Hz); nullopt when it is gone or unreadable.
std::optional<double> cpu_seconds(pid_t pid);

/// The same for the calling process.
double own_cpu_seconds();

/// The nodes a `troupe launch` started: its children, each named by its
/// `--node` argument. Empty when `launcher` is gone.
std::map<std::string, pid_t> node_processes(pid_t launcher);

/// CPU seconds of each process in `pids` (named as given); a process that
/// is gone reads as 0, and `gone` names it.
/// `threads` holds the same per thread, keyed "node/thread name" (threads
/// of one name summed, e.g. CAF's workers), for where the CPU goes; a
/// thread that exits between two snapshots takes its seconds with it, so
/// the per-thread figures are for threads that live through the run.
struct cpu_snapshot {
  std::map<std::string, double> seconds;
  std::map<std::string, double> threads;
  std::string gone;
};
cpu_snapshot snapshot(const std::map<std::string, pid_t>& pids);

/// Each process's CPU seconds from `before` to `after` (a process missing
/// from either is left out).
std::map<std::string, double> cpu_delta(const cpu_snapshot& before, const cpu_snapshot& after);

/// Each thread's CPU seconds from `before` to `after`, as `cpu_delta`.
std::map<std::string, double> thread_delta(const cpu_snapshot& before, const cpu_snapshot& after);

/// The sum of `delta`'s values.
double total(const std::map<std::string, double>& delta);

} // namespace troupe::bench
