// Applications plug into the troupe binary: each adds its services to the
// registry nodes build from, and its own commands to the CLI. The runtime
// and the CLI know no application by name; an application registers
// itself from its own library (linked whole, see meson.build's `apps`):
//
//   TROUPE_APPLICATION(flight, {"flight", register_services, add_commands});
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/service.hpp"
#include "cluster/config.hpp"

namespace CLI {
class App;
}

namespace troupe::cli {

/// A command an application added: its subcommand, the config it was
/// given, and what runs it once the config loaded.
struct command {
  CLI::App* sub = nullptr;
  std::shared_ptr<std::string> config;
  std::function<int(const cluster::config&)> run;
};

struct application {
  std::string name;
  /// Adds its services (and sets up what they share, such as a log sink).
  std::function<void(service_registry&)> services;
  /// Adds its subcommands to `app`, each with a `config` positional.
  std::function<std::vector<command>(CLI::App& app)> commands;
};

/// Registers `a`; returns a value for a static initializer.
bool register_application(application a);
const std::vector<application>& applications();

/// Adds the usual CONFIG positional to `sub` (cli_conventions.hpp's
/// add_config: an existing file, or $TROUPE_CONFIG); returns where it
/// lands. The other conventions, `--format` and examples, are there too.
std::shared_ptr<std::string> add_config(CLI::App* sub);

}  // namespace troupe::cli

#define TROUPE_APPLICATION(id, ...) \
  [[maybe_unused]] static const bool troupe_application_##id = ::troupe::cli::register_application(__VA_ARGS__)
