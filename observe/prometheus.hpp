// Prometheus's text exposition format (version 0.0.4), written by hand:
// prometheus-cpp is not in Debian, and what a node exports is a few
// families of counters, gauges and histograms.
//
//   exposition x;
//   x.family("troupe_invocations_total", "counter", "Deliveries that ended.");
//   x.sample("troupe_invocations_total", {{"rule", "r"}, {"target", "t"}}, 42);
//
// Samples of one family must follow its family() line, as the format
// requires. Label values are escaped; names are the caller's constants.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::observe {

/// A histogram of seconds with fixed buckets, from 1 ms to 5 min: what a
/// hop, a handler or an HTTP request takes here.
struct histogram {
  static constexpr std::array<double, 16> bounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,      2.5,   5,    10,    30,   60,  300};
  std::array<std::uint64_t, bounds.size()> counts{};  // per bucket, not cumulative
  std::uint64_t count = 0;
  double sum = 0;

  void observe(double seconds) {
    ++count;
    sum += seconds;
    for (std::size_t i = 0; i < bounds.size(); ++i)
      if (seconds <= bounds[i]) {
        ++counts[i];
        return;
      }
  }
};

using label = std::pair<std::string_view, std::string_view>;

class exposition {
 public:
  /// Starts family `name`: its HELP and TYPE ("counter", "gauge", "histogram").
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  void sample(std::string_view name, const std::vector<label>& labels, double value);
  /// A histogram's _bucket, _sum and _count lines under family `name`.
  void histogram(std::string_view name, const std::vector<label>& labels, const observe::histogram& h);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void line(std::string_view name, const std::vector<label>& labels, std::string_view extra_name,
            std::string_view extra_value, double value);
  std::string out_;
};

/// The content type a scrape gets.
inline constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

/// A label value as the format writes it: \\, \" and \n escaped.
std::string escape_label(std::string_view v);

/// A number as the format writes it: integers without a fraction, +Inf,
/// -Inf and NaN by name.
std::string format_value(double v);

/// This process's CPU seconds, resident memory, open fds and start time as
/// the conventional process_* families (from /proc/self).
void process_metrics(exposition& x);

}  // namespace troupe::observe
