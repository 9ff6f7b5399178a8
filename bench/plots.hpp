// The bench's figures as files (`troupe_bench --plots DIR`): the series it
// measured as gnuplot data files and one JSON of everything, then
// bench/plots.gp run on them for DIR/hop-latency.png (the single hop's
// latency percentiles against the rate) and DIR/bookings-durability.png
// (bookings/s at each durability level). Without gnuplot the data is
// still written, and the caller is told why there are no pictures.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace troupe::bench {

/// One run of the single hop at a steady rate, latencies in ms.
struct latency_point {
  double offered_per_s = 0;  // the rate asked for
  double sent_per_s = 0;     // the rate the producer put events at, measured
  std::size_t count = 0;     // events timed
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0;
  double cpu_us_per_event = 0;  // both nodes, per event per hop
  int run = 0;
};

/// One end-to-end run at one durability level.
struct bookings_point {
  std::string durability;  // fsync, os or none
  double bookings_per_s = 0;
  double p50_ms = 0, p99_ms = 0;  // per booking, the booking service's clock
  double cpu_us_per_booking = 0;
  int run = 0;
};

struct plot_data {
  std::string label;    // what was measured where: commit, machine, date
  std::string command;  // the bench's command line
  std::vector<latency_point> hop;
  std::vector<bookings_point> e2e;
};

/// "troupe <git describe> on <host>, N cores, <date>": `source_root`'s
/// `git describe --always --dirty` when git and the repository are there,
/// else "troupe (commit unknown)".
std::string describe_run(const std::filesystem::path& source_root);

/// The median of `v` (the mean of the middle two when even), 0 if empty.
double median(std::vector<double> v);

/// Writes `dir`/results.json, hop-latency.dat (every run),
/// hop-latency-median.dat (per rate asked for), bookings-durability.dat
/// (per level: median, min, max, best, runs) and bookings-runs.dat, then
/// runs gnuplot on `script` with dir and label set. Returns one line per
/// file made, or saying why no PNG was; throws when `dir` cannot be written.
std::vector<std::string> write_plots(const std::filesystem::path& dir, const plot_data& data,
                                     const std::filesystem::path& script);

} // namespace troupe::bench
