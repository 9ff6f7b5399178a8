// Checking a flight service's settings section from the cluster config.
//
// Factories validate everything before a service exists and report each
// problem at its YAML position with a dotted path, as the rest of the
// config does (`services.seat.flights.TR100.rows: must be an integer from
// 1 to 200`). Numbers follow YAML's core schema: a quoted "12" is a string.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "cluster/diagnostics.hpp"

namespace troupe::flight {

class settings_checker {
 public:
  explicit settings_checker(cluster::diagnostics& diag);

  /// True when a problem was reported through this checker.
  bool failed() const { return failed_; }

  void add(const YAML::Node& at, const std::string& reason);

  /// True for a map; for anything else other than null (an absent section)
  /// reports "<where>: <what>". `null_ok` decides whether null passes.
  bool map(const YAML::Node& n, const std::string& where, bool null_ok);
  /// Reports every key of `map` not in `allowed`.
  void keys(const YAML::Node& map, std::initializer_list<const char*> allowed, const std::string& where);

  /// The value under `key` of a map, or nullopt when absent or null.
  static std::optional<YAML::Node> child(const YAML::Node& map, const char* key);

  /// A non-empty scalar, quoted or not.
  std::optional<std::string> text(const YAML::Node& n, const std::string& where);
  /// A plain (unquoted) finite number >= `min`.
  std::optional<double> number(const YAML::Node& n, const std::string& where, double min);
  /// A plain integer in [lo, hi].
  std::optional<std::int64_t> integer(const YAML::Node& n, const std::string& where, std::int64_t lo,
                                      std::int64_t hi);

 private:
  cluster::diagnostics& diag_;
  bool failed_ = false;
};

} // namespace troupe::flight
