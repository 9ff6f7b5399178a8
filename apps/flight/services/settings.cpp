#include "apps/flight/services/settings.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "cluster/scalars.hpp"

namespace troupe::flight {

namespace {

bool plain(const YAML::Node& n) { return n.Tag() == "?"; }

// YAML core schema integers, decimal only, that fit an int64 with room.
bool integer_text(std::string_view s) { return cluster::core_integer(s) && s.size() <= 18; }

} // namespace

settings_checker::settings_checker(cluster::diagnostics& diag) : diag_(diag) {}

void settings_checker::add(const YAML::Node& at, const std::string& reason) {
  failed_ = true;
  if (at.IsDefined())
    diag_.add(at, reason);
  else
    diag_.add(0, 0, reason);
}

bool settings_checker::map(const YAML::Node& n, const std::string& where, bool null_ok) {
  if (n.IsMap())
    return true;
  if (null_ok && (!n.IsDefined() || n.IsNull()))
    return false;
  add(n, where + ": must be a map");
  return false;
}

void settings_checker::keys(const YAML::Node& map, std::initializer_list<const char*> allowed,
                            const std::string& where) {
  for (const auto& kv : map) {
    const auto k = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
    bool known = false;
    for (auto a : allowed)
      known = known || k == a;
    if (known)
      continue;
    std::string list;
    for (auto a : allowed)
      list += (list.empty() ? "" : ", ") + std::string(a);
    if (list.empty())
      add(kv.first, where + ": unknown key '" + k + "' (this service takes no settings)");
    else
      add(kv.first, where + ": unknown key '" + k + "' (expected one of: " + list + ")");
  }
}

std::optional<YAML::Node> settings_checker::child(const YAML::Node& map, const char* key) {
  if (!map.IsMap())
    return std::nullopt;
  for (const auto& kv : map)
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      if (kv.second.IsNull())
        return std::nullopt;
      return kv.second;
    }
  return std::nullopt;
}

std::optional<std::string> settings_checker::text(const YAML::Node& n, const std::string& where) {
  if (!n.IsScalar() || n.Scalar().empty()) {
    add(n, where + ": must be a non-empty string");
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<double> settings_checker::number(const YAML::Node& n, const std::string& where, double min) {
  const auto complain = [&] {
    add(n, where + ": must be a number of at least " + (min == 0 ? std::string("0") : std::to_string(min)));
    return std::nullopt;
  };
  if (!n.IsScalar() || !plain(n) || !cluster::core_float(n.Scalar()))
    return complain();
  errno = 0;
  const double x = std::strtod(n.Scalar().c_str(), nullptr);
  if (errno == ERANGE || !std::isfinite(x) || x < min)
    return complain();
  return x;
}

std::optional<std::int64_t> settings_checker::integer(const YAML::Node& n, const std::string& where,
                                                      std::int64_t lo, std::int64_t hi) {
  if (!n.IsScalar() || !plain(n) || !integer_text(n.Scalar())) {
    add(n, where + ": must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return std::nullopt;
  }
  const auto x = std::strtoll(n.Scalar().c_str(), nullptr, 10);
  if (x < lo || x > hi) {
    add(n, where + ": must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return std::nullopt;
  }
  return x;
}

} // namespace troupe::flight
