#include "actors/service.hpp"

namespace troupe {

void service_registry::add(std::string name, service_factory factory, service_traits traits) {
  entries_.push_back({std::move(name), std::move(factory), std::move(traits)});
}

const service_factory* service_registry::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name)
      return &e.factory;
  return nullptr;
}

const service_traits* service_registry::traits(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name)
      return &e.traits;
  return nullptr;
}

std::vector<std::string> service_registry::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_)
    out.push_back(e.name);
  return out;
}

} // namespace troupe
