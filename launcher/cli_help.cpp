#include "launcher/cli_help.hpp"

#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "launcher/cli_conventions.hpp"

namespace troupe::cli {

namespace {

std::map<const CLI::App*, help_end>& help_ends() {
  static std::map<const CLI::App*, help_end> ends;
  return ends;
}

const help_end* find_help_end(const CLI::App* cmd) {
  const auto it = help_ends().find(cmd);
  return it == help_ends().end() ? nullptr : &it->second;
}

std::string render(const help_end& end) {
  std::string text;
  if (!end.examples.empty())
    text = end.examples.size() == 1 ? "Example:\n" : "Examples:\n";
  for (const auto& e : end.examples)
    text += "  " + e + "\n";
  for (const auto& [title, lines] : end.sections)
    text += (text.empty() ? "" : "\n") + title + ":\n" + lines;
  if (!end.last_line.empty())
    text += (text.empty() ? "" : "\n") + end.last_line + "\n";
  if (!text.empty())
    text.pop_back();  // CLI11 ends the footer with its own line end
  return text;
}

std::vector<const CLI::App*> visible_commands(const CLI::App* cmd) {
  return cmd->get_subcommands([](const CLI::App* s) { return !s->get_name().empty() && !s->get_group().empty(); });
}

/// `cmd`'s help as `troupe help` prints it. Not cmd->help(): that follows
/// the subcommand parsed, which is `help`.
std::string help_of(const CLI::App* cmd) {
  return cmd->get_formatter()->make_help(cmd, command_path(cmd), CLI::AppFormatMode::Normal);
}

/// The help of every command below `cmd`, depth first.
void help_below(const CLI::App* cmd, std::string& out) {
  for (const auto* s : visible_commands(cmd)) {
    out += "\n" + help_of(s);
    help_below(s, out);
  }
}

/// One command for the man page, and those below it: its usage as a
/// subsection, then its description, arguments, options (not --help) and
/// examples, indented so that help2man keeps them in the subsection.
void man_commands(const CLI::App* cmd, const CLI::Formatter& f, std::string& out) {
  for (const auto* s : visible_commands(cmd)) {
    auto usage = f.make_usage(s, command_path(s));  // "Usage: troupe dlq list [OPTIONS] CONFIG\n"
    usage = usage.substr(usage.find(": ") + 2);
    usage.pop_back();
    out += "\n" + usage + ":\n  " + s->get_description() + "\n";
    // Each option's description on a line of its own, as help2man reads
    // it best (CLI11 may leave one space between name and description).
    for (const auto* o : s->get_options([s](const CLI::Option* o) { return o != s->get_help_ptr(); }))
      if (!o->get_group().empty())
        out += "    " + f.make_option_name(o, o->get_positional()) + f.make_option_opts(o) + "\n" +
               std::string(24, ' ') + f.make_option_desc(o) + "\n";
    if (!visible_commands(s).empty())
      out += "\n  Commands: " + commands_of(s) + "\n";
    if (const auto* end = find_help_end(s); end && !end->examples.empty()) {
      out += end->examples.size() == 1 ? "\n  Example:\n" : "\n  Examples:\n";
      for (const auto& e : end->examples)
        out += "    $ " + e + "\n";
    }
    man_commands(s, f, out);
  }
}

/// help2man's input: the usage and the program's options, every command
/// under COMMANDS, then the program's examples and notes.
std::string man_text(const CLI::App& app) {
  const auto shared = std::dynamic_pointer_cast<CLI::Formatter>(app.get_formatter());
  const CLI::Formatter fallback;
  const CLI::Formatter& f = shared ? *shared : fallback;
  std::string out = f.make_usage(&app, app.get_name()) + f.make_groups(&app, CLI::AppFormatMode::Normal);
  out += "\n*Commands*\n";
  man_commands(&app, f, out);
  if (const auto* end = find_help_end(&app)) {
    if (!end->examples.empty())
      out += "\nExamples:\n";
    for (const auto& e : end->examples)
      out += "  $ " + e + "\n";
    // help2man knows Environment and Files; another title is made a section by *Title*.
    for (const auto& [title, lines] : end->sections)
      out += "\n" + (title == "Environment" || title == "Files" ? title + ":" : "*" + title + "*") + "\n" + lines;
  }
  return out;
}

}  // namespace

CLI::App* add_help_command(CLI::App& app, help_request& request) {
  auto* help = app.add_subcommand("help", "Show the help of a command, or of them all");
  help->add_option("COMMAND", request.path, "The command, and its subcommand if it has some");
  help->add_flag("--all", request.all, "The help of every command (below COMMAND), one after another");
  help->add_flag("--man", request.man, "The input of help2man, which makes the man page")->group("");
  example(help, "troupe help dlq list");
  return help;
}

int print_help(const CLI::App& app, const help_request& request) {
  if (request.man) {
    std::cout << man_text(app);
    return 0;
  }
  const CLI::App* cmd = &app;
  for (const auto& name : request.path) {
    const auto found = cmd->get_subcommands([&name](const CLI::App* s) { return s->get_name() == name; });
    if (found.empty()) {
      std::cerr << app.get_name() << " help: "
                << (cmd == &app ? "unknown command '" + name + "'"
                                : "'" + cmd->get_name() + "' has no subcommand '" + name +
                                      "' (its commands: " + commands_of(cmd) + ")")
                << "\nRun '" << app.get_name() << " help' for the commands.\n";
      return exit_usage;
    }
    cmd = found.front();
  }
  auto out = help_of(cmd);
  if (request.all)
    help_below(cmd, out);
  std::cout << out;
  return 0;
}

help_end& help_end_of(CLI::App* cmd) {
  auto [it, made] = help_ends().try_emplace(cmd);
  if (made)
    cmd->footer([cmd] { return render(help_ends()[cmd]); });
  return it->second;
}

std::string command_path(const CLI::App* cmd) {
  std::string path = cmd->get_name();
  for (auto* p = cmd->get_parent(); p; p = p->get_parent())
    path = p->get_name() + " " + path;
  return path;
}

std::string commands_of(const CLI::App* cmd) {
  std::string names;
  for (const auto* s : visible_commands(cmd))
    names += (names.empty() ? "" : ", ") + s->get_name();
  return names;
}

}  // namespace troupe::cli
