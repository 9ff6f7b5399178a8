// Collects configuration problems as `file:line:column: reason`.
//
// Validation never stops at the first problem: every check adds to one
// `diagnostics` and the caller reports them all before anything starts,
// as compilers do. Positions come from yaml-cpp's marks (0-based there,
// 1-based here). A reason may quote the file, which may be anything: its
// control characters and bytes that are not UTF-8 are written as \xNN, so
// that a problem stays one printable line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace YAML {
class Node;
struct Mark;
} // namespace YAML

namespace troupe::cluster {

struct problem {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string reason;

  std::string to_string() const;  // "file:line:column: reason"
};

/// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates).
bool valid_utf8(std::string_view s);

/// `s` with control characters and bytes that are not UTF-8 as \xNN.
std::string printable(std::string_view s);

class diagnostics {
 public:
  explicit diagnostics(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& at, std::string reason);
  void add(const YAML::Node& at, std::string reason);
  void add(int line, int column, std::string reason);

  bool empty() const { return problems_.empty(); }
  const std::vector<problem>& problems() const { return problems_; }
  const std::string& file() const { return file_; }
  std::string to_string() const;  // one problem per line

 private:
  std::string file_;
  std::vector<problem> problems_;
};

} // namespace troupe::cluster
