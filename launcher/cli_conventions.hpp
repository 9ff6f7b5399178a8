// The command line's conventions, shared by every command (the framework's
// in main.cpp, each application's, each new file of commands), so that all
// of them behave as a Unix user expects:
//
// - a usage error (unknown option or command, missing or bad argument, a
//   config file that does not exist) prints one line naming the command and
//   a hint (`Run 'troupe help book' for more.`) on stderr and exits 2;
//   `--help`, `--version` and `troupe help ...` exit 0;
// - a command that reads a cluster config takes it as its CONFIG argument,
//   or from $TROUPE_CONFIG;
// - a command that prints data takes `--format table|json`;
// - a command that runs until stopped and logs (node, launch, gateway)
//   takes `--log-format text|json`, or $TROUPE_LOG_FORMAT;
// - each command's help ends with an example;
// - `troupe help COMMAND` (cli_help.hpp), the bash completion
//   (cli_completion.hpp) and the man page follow from the CLI11 tree.
//
// A command file applies them as it declares its subcommand:
//
//   auto* status = app.add_subcommand("status", "Show every node's counters");
//   troupe::cli::add_config(status, config);
//   troupe::cli::add_format(status, format);
//   troupe::cli::example(status, "troupe status configs/flight.yaml --format json");
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
class ParseError;
}  // namespace CLI

namespace troupe::cli {

/// The exit code of a command line the CLI refuses (as BSD's EX_USAGE is
/// for others, 2 is the shell's own and most tools' "misuse").
inline constexpr int exit_usage = 2;

/// The environment variable that may stand in for the CONFIG argument.
inline constexpr const char* config_env = "TROUPE_CONFIG";

/// The environment variable that may stand in for `--log-format`.
inline constexpr const char* log_format_env = "TROUPE_LOG_FORMAT";

/// Names the program `troupe` in every usage line (not the path it was
/// run by), gives it `--version`, requires a command, lets options of the
/// whole program follow the command, and ends its help with the
/// environment variables and exit codes every command shares. First, before
/// any command is added: a command takes some settings from its parent.
void set_up_program(CLI::App& app, const std::string& version);

/// Adds the CONFIG positional to `sub`: required, satisfied by
/// $TROUPE_CONFIG, and naming an existing file (else a usage error that
/// says whether TROUPE_CONFIG named it). Add it before `sub`'s other
/// positionals: a word that names no file goes on to them (CLI11's
/// validate_positionals), so that they work with TROUPE_CONFIG set too
/// (`troupe dlq show ID`). The path is written to `config` and checked
/// only when `sub` is the command run, so several commands may share one
/// string (CLI11 reads environment variables for every command, run or
/// not). `config` must outlive parsing. Returns the option.
CLI::Option* add_config(CLI::App* sub, std::string& config);

/// Adds `--format table|json` to `sub`, writing into `format` (which keeps
/// its value, normally "table", when the option is not given). JSON output
/// is one object per line: one per record for a listing, one in all for a
/// report. Returns the option.
CLI::Option* add_format(CLI::App* sub, std::string& format);

/// Adds `--log-format text|json` to `sub`, satisfied by $TROUPE_LOG_FORMAT,
/// writing into `format` (which keeps its value, normally "text", when
/// neither is given): how the process writes its log lines
/// (log/format.hpp). A value from the environment is checked only when
/// `sub` is the command run, so that several commands may share one
/// string. Returns the option.
CLI::Option* add_log_format(CLI::App* sub, std::string& format);

/// Adds an example command line to the end of `sub`'s help (and to the man
/// page); each call adds one more.
void example(CLI::App* sub, const std::string& command_line);

/// What to say and return for `e`, thrown by `app.parse`: help or version
/// on stdout and 0; for anything else one line on stderr naming the
/// command that refused, and a hint where to read more, and exit_usage.
int report_parse_error(const CLI::App& app, const CLI::ParseError& e);

}  // namespace troupe::cli
