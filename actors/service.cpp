#include "actors/service.hpp"

namespace troupe {

void service_registry::add(std::string name, service_factory factory) {
  entries_.emplace_back(std::move(name), std::move(factory));
}

const service_factory* service_registry::find(const std::string& name) const {
  for (const auto& [n, f] : entries_)
    if (n == name)
      return &f;
  return nullptr;
}

std::vector<std::string> service_registry::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_)
    out.push_back(e.first);
  return out;
}

} // namespace troupe
