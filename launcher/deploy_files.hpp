// What `troupe deploy` shares between engines: the config's own paths as
// the installed config reads them, YAML written by an emitter, shell words
// for the READMEs, and the check of a name before it goes into a file.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/config.hpp"

namespace troupe::cli::deploy {

/// A path the config names, as written (relative to the config, or
/// absolute) and where the YAML says it.
struct named_path {
  std::string text;
  int line = 0, column = 0;  // 1-based; 0 for a default the file does not spell

  /// Where it is once the config is installed at `config`.
  std::filesystem::path installed(const std::filesystem::path& config) const;
};

/// The paths a loaded config names, read again from its file: the loader
/// keeps them resolved against where it was read, but an installed config
/// resolves them against where it is installed.
struct config_paths {
  named_path data_dir;                               // "data" when the file has none
  std::map<std::string, named_path> node_public;     // by node, public-key-file
  std::map<std::string, named_path> node_secret;     // by node, secret-key-file
  std::map<std::string, named_path> client_public;   // by client, public-key-file
};

/// Fails (io) when the file cannot be read again.
result<config_paths> paths_of(const cluster::config& cfg);

/// `file:line:column: reason`, or `file: reason` without a position.
std::string at(const cluster::config& cfg, const named_path& p, const std::string& reason);
std::string at(const cluster::config& cfg, int line, int column, const std::string& reason);

/// The port of a `tcp://HOST:PORT` endpoint; nullopt for another transport.
std::optional<int> port_of(const std::string& endpoint);

/// "30s" or "100ms", as systemd reads a time span.
std::string time_span(std::chrono::milliseconds d);

/// `s` as one word of a POSIX shell command line.
std::string shell_word(const std::string& s);

/// `doc` as YAML. Strings that would read as another type, or not read
/// back the same, are quoted; a multi-line string is a literal block when
/// that reads back the same.
std::string yaml_document(const nlohmann::ordered_json& doc);
/// The documents as YAML, each after a `---`.
std::string yaml_documents(const std::vector<nlohmann::ordered_json>& docs);

/// Writes `files` to `out`, or says on stderr why there are none or why
/// writing failed. Returns the exit code: 0 written, 2 refused, 1 when
/// writing failed.
int write_out(const result<std::map<std::string, std::string>>& files, const std::filesystem::path& out);

/// The problems joined one per line, as a not_deployable error.
error not_deployable(const std::vector<std::string>& problems);

} // namespace troupe::cli::deploy
