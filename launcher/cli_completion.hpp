// Shell completion made from the command line's own definition: the
// hidden `troupe completion bash` walks the CLI11 tree (commands,
// subcommands, options and what their values are) and prints a bash
// script, which the build installs, so that it never lags the CLI.
//
// What a value completes to comes from its option: a config (the CONFIG
// positional, `--config`) to directories and YAML files, a type name FILE
// or DIR to files or directories, an IsMember check to its members; any
// other value to nothing. Hidden commands and options (an empty group)
// are left out.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace troupe::cli {

/// The bash completion script for `app` (defines `_troupe` and registers
/// it for `app`'s name).
std::string bash_completion(const CLI::App& app);

/// Adds the hidden `completion SHELL` command, SHELL landing in `shell`.
CLI::App* add_completion_command(CLI::App& app, std::string& shell);

}  // namespace troupe::cli
