// The readers of access settings that cluster/access.cpp and
// cluster/gateway.cpp share: each reports what is wrong at its position.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/access.hpp"

namespace troupe::cluster::fields {

/// A non-empty string scalar at `key` of `map`, or nullopt (and a problem
/// when it is there but is not one).
std::optional<std::string> string_at(const YAML::Node& map, const char* key, const std::string& where,
                                     diagnostics& diag);
/// A list of non-empty strings at `key`, or nullopt when absent.
std::optional<std::vector<std::string>> strings_at(const YAML::Node& map, const char* key, const std::string& where,
                                                   diagnostics& diag);
/// `secret-key-file` (relative to `dir`) or `secret-key-env`; refuses a
/// secret written in the config itself.
secret_key_source read_secret_source(const YAML::Node& map, const std::string& where, const std::filesystem::path& dir,
                                     diagnostics& diag);
void unknown_keys(const YAML::Node& map, const std::set<std::string>& allowed, const std::string& where,
                  diagnostics& diag);
/// `roles:`, required: producer, reader, operator.
unsigned read_roles(const YAML::Node& c, const std::string& where, diagnostics& diag);

} // namespace troupe::cluster::fields
