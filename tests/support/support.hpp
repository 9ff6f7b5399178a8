// Helpers shared by the tests: free ports, waiting on conditions with a
// deadline (never a fixed sleep), and temporary directories that clean up.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

namespace troupe::test {

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it).
int free_port();

/// "tcp://127.0.0.1:<free port>"
std::string free_endpoint();

/// Polls `cond` every few milliseconds until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

/// A fresh directory under the system's temp dir, removed with its contents.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

} // namespace troupe::test
