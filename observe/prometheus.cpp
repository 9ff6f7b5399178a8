#include "observe/prometheus.hpp"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace troupe::observe {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest text that reads back as the same double: 0.005, not
  // 0.0050000000000000001.
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void exposition::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {  // HELP escapes \ and newline only
    if (c == '\\')
      out_ += "\\\\";
    else if (c == '\n')
      out_ += "\\n";
    else
      out_ += c;
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void exposition::line(std::string_view name, const std::vector<label>& labels, std::string_view extra_name,
                      std::string_view extra_value, double value) {
  out_ += name;
  if (!labels.empty() || !extra_name.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first)
        out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      out_ += escape_label(v);
      out_ += '"';
    }
    if (!extra_name.empty()) {
      if (!first)
        out_ += ',';
      out_ += extra_name;
      out_ += "=\"";
      out_ += extra_value;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void exposition::sample(std::string_view name, std::initializer_list<label> labels, double value) {
  line(name, std::vector<label>(labels), {}, {}, value);
}

void exposition::sample(std::string_view name, const std::vector<label>& labels, double value) {
  line(name, labels, {}, {}, value);
}

void exposition::histogram(std::string_view name, const std::vector<label>& labels, const observe::histogram& h) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts[i];
    line(bucket, labels, "le", format_value(h.bounds[i]), static_cast<double>(cumulative));
  }
  line(bucket, labels, "le", "+Inf", static_cast<double>(h.count));
  line(std::string(name) + "_sum", labels, {}, {}, h.sum);
  line(std::string(name) + "_count", labels, {}, {}, static_cast<double>(h.count));
}

void process_metrics(exposition& x) {
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::ifstream stat("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const auto close = content.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(content.substr(close + 2));
    std::vector<std::string> f;
    for (std::string s; rest >> s;)
      f.push_back(s);
    // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, rss 24.
    if (f.size() > 21) {
      const double cpu = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      x.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
      x.sample("process_cpu_seconds_total", {}, cpu);
      x.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
      x.sample("process_resident_memory_bytes", {}, std::stod(f[21]) * page);
      std::ifstream uptime("/proc/stat");
      double boot = 0;
      for (std::string key; uptime >> key;)
        if (key == "btime") {
          uptime >> boot;
          break;
        }
      if (boot > 0) {
        x.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
        x.sample("process_start_time_seconds", {}, boot + std::stod(f[19]) / ticks);
      }
    }
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    double n = 0;
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(d);
    x.family("process_open_fds", "gauge", "Number of open file descriptors.");
    x.sample("process_open_fds", {}, n - 1);  // not the one reading the folder
  }
}

}  // namespace troupe::observe
