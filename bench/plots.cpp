#include "bench/plots.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/integration/cluster.hpp"

namespace troupe::bench {

namespace {

using json = nlohmann::json;

/// `name` in a directory of $PATH, or empty (run_command takes a path).
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    const auto candidate = std::filesystem::path(d.empty() ? "." : d) / name;
    if (access(candidate.c_str(), X_OK) == 0)
      return candidate.string();
  }
  return "";
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// "model name" of /proc/cpuinfo, or empty.
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? "" : line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "";
}

/// A gnuplot single-quoted string: only ' needs escaping, as ''.
std::string gnuplot_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s)
    out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::ofstream open_for_writing(const std::filesystem::path& path) {
  std::ofstream out(path);
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
  return out;
}

void write_latency(const std::filesystem::path& dir, const std::vector<latency_point>& hop) {
  const char* header = "# offered_per_s sent_per_s count p50_ms p90_ms p99_ms p99.9_ms max_ms cpu_us_per_event run\n";
  const auto row = [](std::ostream& out, const latency_point& p) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%.0f %.1f %zu %.3f %.3f %.3f %.3f %.3f %.2f %d\n", p.offered_per_s, p.sent_per_s,
                  p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms, p.cpu_us_per_event, p.run);
    out << buf;
  };
  auto all = open_for_writing(dir / "hop-latency.dat");
  all << header;
  for (const auto& p : hop)
    row(all, p);
  // Per rate asked for, each column's median over the runs ("run" is how
  // many there were), lowest rate first for the lines.
  std::map<double, std::vector<latency_point>> by_rate;
  for (const auto& p : hop)
    by_rate[p.offered_per_s].push_back(p);
  auto med = open_for_writing(dir / "hop-latency-median.dat");
  med << header;
  for (const auto& [rate, runs] : by_rate) {
    const auto of = [&](double latency_point::*field) {
      std::vector<double> v;
      for (const auto& p : runs)
        v.push_back(p.*field);
      return median(v);
    };
    std::vector<double> counts;
    for (const auto& p : runs)
      counts.push_back(static_cast<double>(p.count));
    row(med, {rate, of(&latency_point::sent_per_s), static_cast<std::size_t>(median(counts)),
              of(&latency_point::p50_ms), of(&latency_point::p90_ms), of(&latency_point::p99_ms),
              of(&latency_point::p999_ms), of(&latency_point::max_ms), of(&latency_point::cpu_us_per_event),
              static_cast<int>(runs.size())});
  }
}

void write_bookings(const std::filesystem::path& dir, const std::vector<bookings_point>& e2e) {
  // The bars in order of durability, strongest first; a level not
  // measured has no bar.
  const char* const levels[] = {"fsync", "os", "none"};
  auto runs = open_for_writing(dir / "bookings-runs.dat");
  runs << "# bar durability bookings_per_s run p50_ms p99_ms cpu_us_per_booking\n";
  auto bars = open_for_writing(dir / "bookings-durability.dat");
  bars << "# bar durability median_bookings_per_s min max best runs\n";
  char buf[256];
  int bar = 0;
  for (const char* level : levels) {
    std::vector<double> rates;
    for (const auto& p : e2e)
      if (p.durability == level) {
        rates.push_back(p.bookings_per_s);
        std::snprintf(buf, sizeof buf, "%d %s %.1f %d %.2f %.2f %.1f\n", bar, level, p.bookings_per_s, p.run, p.p50_ms,
                      p.p99_ms, p.cpu_us_per_booking);
        runs << buf;
      }
    if (rates.empty())
      continue;
    const auto [lo, hi] = std::minmax_element(rates.begin(), rates.end());
    std::snprintf(buf, sizeof buf, "%d %s %.1f %.1f %.1f %.1f %zu\n", bar, level, median(rates), *lo, *hi, *hi,
                  rates.size());
    bars << buf;
    ++bar;
  }
}

json to_json(const plot_data& data) {
  json hop = json::array(), e2e = json::array();
  for (const auto& p : data.hop)
    hop.push_back({{"offered_per_s", p.offered_per_s}, {"sent_per_s", p.sent_per_s}, {"count", p.count},
                   {"p50_ms", p.p50_ms}, {"p90_ms", p.p90_ms}, {"p99_ms", p.p99_ms}, {"p999_ms", p.p999_ms},
                   {"max_ms", p.max_ms}, {"cpu_us_per_event", p.cpu_us_per_event}, {"run", p.run}});
  for (const auto& p : data.e2e)
    e2e.push_back({{"durability", p.durability}, {"bookings_per_s", p.bookings_per_s}, {"p50_ms", p.p50_ms},
                   {"p99_ms", p.p99_ms}, {"cpu_us_per_booking", p.cpu_us_per_booking}, {"run", p.run}});
  return {{"label", data.label}, {"command", data.command}, {"hop_latency", hop}, {"end_to_end", e2e}};
}

} // namespace

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const auto mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

std::string describe_run(const std::filesystem::path& source_root) {
  std::string commit = "(commit unknown)";
  if (const auto git = on_path("git"); !git.empty()) {
    const auto r = test::run_command({git, "-C", source_root.string(), "describe", "--always", "--dirty"},
                                     std::chrono::seconds(10));
    if (r.code == 0 && !r.output.empty())
      commit = first_line(r.output);
  }
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  char date[32];
  const auto now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  const auto model = cpu_model();
  return "troupe " + commit + " on " + host + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores"
         + (model.empty() ? "" : " (" + model + ")") + ", " + date;
}

std::vector<std::string> write_plots(const std::filesystem::path& dir, const plot_data& data,
                                     const std::filesystem::path& script) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> said;
  open_for_writing(dir / "results.json") << to_json(data).dump(2) << "\n";
  said.push_back("wrote " + (dir / "results.json").string());
  if (!data.hop.empty()) {
    write_latency(dir, data.hop);
    said.push_back("wrote " + (dir / "hop-latency.dat").string() + " and hop-latency-median.dat");
  }
  if (!data.e2e.empty()) {
    write_bookings(dir, data.e2e);
    said.push_back("wrote " + (dir / "bookings-durability.dat").string() + " and bookings-runs.dat");
  }
  const auto gnuplot = on_path("gnuplot");
  if (gnuplot.empty()) {
    said.push_back("no PNG plots: gnuplot is not on PATH (Debian: apt-get install gnuplot-nox); the data is written");
    return said;
  }
  const auto r = test::run_command({gnuplot, "-e",
                                    "dir=" + gnuplot_quoted(dir.string()) + "; label=" + gnuplot_quoted(data.label)
                                        + "; hop=" + (data.hop.empty() ? "0" : "1")
                                        + "; e2e=" + (data.e2e.empty() ? "0" : "1"),
                                    script.string()},
                                   std::chrono::seconds(60));
  if (r.code != 0) {
    said.push_back("no PNG plots: gnuplot " + script.string() + " failed (exit " + std::to_string(r.code)
                   + "): " + r.output);
    return said;
  }
  if (!r.output.empty())
    said.push_back("gnuplot said: " + r.output);
  if (!data.hop.empty())
    said.push_back("plotted " + (dir / "hop-latency.png").string());
  if (!data.e2e.empty())
    said.push_back("plotted " + (dir / "bookings-durability.png").string());
  return said;
}

} // namespace troupe::bench
