#include "actors/runtime/ready_marker.hpp"

#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "actors/runtime/error.hpp"

namespace troupe::runtime {

namespace fs = std::filesystem;

namespace {

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks
/// since boot; nullopt when there is no such process.
std::optional<unsigned long long> start_time_of(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!in || !std::getline(in, stat))
    return std::nullopt;
  // The command name (field 2) is in parentheses and may hold anything.
  const auto close = stat.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i < 22; ++i)
    rest >> field;
  unsigned long long start = 0;
  if (!(rest >> start))
    return std::nullopt;
  return start;
}

} // namespace

fs::path ready_marker_path(const fs::path& data_dir) { return data_dir / "ready"; }

result<void> write_ready_marker(const fs::path& data_dir) {
  const auto pid = static_cast<long>(::getpid());
  const auto start = start_time_of(pid);
  if (!start)
    return error{errc::io, "cannot read /proc/self/stat for the ready marker"};
  const auto path = ready_marker_path(data_dir);
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << pid << ' ' << *start << '\n';
    if (!out.flush())
      return error{errc::io, "cannot write " + tmp.string()};
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    return error{errc::io, "cannot write " + path.string() + ": " + ec.message()};
  return {};
}

void remove_ready_marker(const fs::path& data_dir) {
  std::error_code ec;
  fs::remove(ready_marker_path(data_dir), ec);
}

result<int> ready_process(const fs::path& data_dir) {
  const auto path = ready_marker_path(data_dir);
  std::error_code ec;
  if (!fs::exists(path, ec))
    return error{errc::io, "no ready marker " + path.string()};
  std::ifstream in(path);
  if (!in)
    return error{errc::io, "cannot read " + path.string()};
  long pid = 0;
  unsigned long long start = 0;
  if (!(in >> pid >> start) || pid <= 0)
    return error{errc::io, path.string() + " is not a ready marker"};
  const auto now = start_time_of(pid);
  if (!now || *now != start)
    return error{errc::io, "the process that wrote " + path.string() + " (pid " + std::to_string(pid) + ") is gone"};
  return static_cast<int>(pid);
}

} // namespace troupe::runtime
