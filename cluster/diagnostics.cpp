#include "cluster/diagnostics.hpp"

#include <yaml-cpp/yaml.h>

namespace troupe::cluster {

std::string problem::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + reason;
}

void diagnostics::add(const YAML::Mark& at, std::string reason) {
  if (at.is_null())
    add(0, 0, std::move(reason));
  else
    add(at.line + 1, at.column + 1, std::move(reason));
}

void diagnostics::add(const YAML::Node& at, std::string reason) { add(at.Mark(), std::move(reason)); }

void diagnostics::add(int line, int column, std::string reason) {
  problems_.push_back(problem{file_, line, column, std::move(reason)});
}

std::string diagnostics::to_string() const {
  std::string out;
  for (const auto& p : problems_) {
    out += p.to_string();
    out += '\n';
  }
  return out;
}

} // namespace troupe::cluster
