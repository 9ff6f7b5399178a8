// Metrics scraped while the bench runs (`troupe_bench --only scrape`): each
// node of a bench cluster is given a Prometheus endpoint, and a thread of
// the bench GETs every node's /metrics once a period, as a Prometheus
// server would, so that a run with it can be set beside a run without.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace troupe::bench {

/// Adds `metrics: "127.0.0.1:PORT"` (a free port) to every node's
/// `endpoints` map in the config file at `config` that has none, before
/// the cluster starts; returns node name → "IP:PORT", each node's own where
/// it had one. Throws when the file cannot be rewritten or has a node
/// without an `endpoints: {...}` line.
std::map<std::string, std::string> add_metrics_endpoints(const std::filesystem::path& config);

struct scrape_stats {
  std::uint64_t scrapes = 0;   // GETs answered 200
  std::uint64_t failures = 0;  // GETs that were not
  std::uint64_t bytes = 0;     // of the bodies answered
  double total_ms = 0, max_ms = 0;  // each GET's time, answered or not
  std::string last_error;
  double mean_ms() const { return scrapes + failures ? total_ms / static_cast<double>(scrapes + failures) : 0; }
};

/// GETs http://ADDRESS/metrics of each target (name → "HOST:PORT") at
/// once, then every `period`, on a thread of its own, until stop() or its
/// destruction. One keep-alive connection per target, as Prometheus keeps.
class scraper {
 public:
  scraper(std::map<std::string, std::string> targets, std::chrono::milliseconds period);
  ~scraper();
  scraper(const scraper&) = delete;
  scraper& operator=(const scraper&) = delete;

  /// Stops the thread (a GET under way finishes first) and returns what
  /// it did. Later calls return the same.
  scrape_stats stop();

 private:
  void run();

  std::map<std::string, std::string> targets_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // mu_ held
  scrape_stats stats_;     // the thread's until it is joined
  std::thread thread_;
};

} // namespace troupe::bench
