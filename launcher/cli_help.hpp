// What the command line's help says, and `troupe help`: each command's
// help ends with its examples (and the program's with the environment and
// exit codes every command shares), and `troupe help [COMMAND
// [SUBCOMMAND]]` prints what `COMMAND --help` does. `troupe help --all`
// prints every command's help; a hidden `--man` prints the text help2man
// makes the man page from (help2man's own conventions: "Examples:" and
// "Environment:" become those sections, a line "*Exit status*" a section
// of that name, and "usage:" followed by indented lines a subsection).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace troupe::cli {

/// What `troupe help [--all] [COMMAND [SUBCOMMAND]]` asks for.
struct help_request {
  std::vector<std::string> path;  // empty: the whole program
  bool all = false;               // and every command below it
  bool man = false;               // help2man's input, for the whole program
};

/// Adds `troupe help`, which fills `request`.
CLI::App* add_help_command(CLI::App& app, help_request& request);

/// Prints the help `request` asks for (`app`'s own when its path is empty)
/// to stdout; returns 0, or exit_usage after saying on stderr that there
/// is no such command.
int print_help(const CLI::App& app, const help_request& request);

/// What ends a command's help, after its options. Kept apart from CLI11's
/// footer string, which every subcommand added later copies from its
/// parent.
struct help_end {
  std::vector<std::string> examples;  // command lines
  std::vector<std::pair<std::string, std::string>> sections;  // title, indented lines
  std::string last_line;
};

/// `cmd`'s, shown at the end of its help from then on. The command line is
/// built, parsed and printed on one thread.
help_end& help_end_of(CLI::App* cmd);

/// "troupe dlq list": `cmd`'s name after its parents'.
std::string command_path(const CLI::App* cmd);

/// The names of `cmd`'s commands that help shows: "list, show, redrive, purge".
std::string commands_of(const CLI::App* cmd);

}  // namespace troupe::cli
