#include "launcher/cli_conventions.hpp"

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "launcher/cli_help.hpp"

namespace troupe::cli {

namespace {

/// Whether `sub` is the command being run (or one on its path): CLI11 runs
/// environment variables, validators and callbacks for every command.
bool selected(const CLI::App* sub) { return sub->parsed(); }

/// What is wrong with `path` as a config file, in CLI::ExistingFile's
/// words, and saying when it came from TROUPE_CONFIG (which the user may
/// have forgotten); empty when nothing is.
std::string config_problem(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  std::string why;
  if (!std::filesystem::exists(st))
    why = "File does not exist: " + path;
  else if (std::filesystem::is_directory(st))
    why = "File is actually a directory: " + path;
  else
    return {};
  const char* env = std::getenv(config_env);
  if (env && path == env)
    why += std::string(" (named by ") + config_env + ")";
  return why;
}

/// config_problem as a check, for the command run only.
CLI::Validator existing_config(const CLI::App* sub) {
  return CLI::Validator([sub](std::string& path) { return selected(sub) ? config_problem(path) : std::string(); },
                        "", "CONFIG");
}

/// A missing CONFIG, when the user did give a path: a file that does not
/// exist is not taken as the CONFIG (see add_config), so it is left over or
/// taken by the next positional; the path, or empty.
std::string config_given(const CLI::App* cmd, const std::vector<std::string>& extras) {
  if (!extras.empty() && extras.front().rfind('-', 0) != 0)
    return extras.front();
  for (const auto* opt : cmd->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
    if (opt->get_envname() == config_env || opt->results().empty())
      continue;
    const auto& first = opt->results().front();  // an id or a name has neither
    const auto ends = [&first](const std::string& tail) {
      return first.size() >= tail.size() && first.compare(first.size() - tail.size(), tail.size(), tail) == 0;
    };
    if (first.find('/') != std::string::npos || ends(".yaml") || ends(".yml"))
      return first;
    break;
  }
  return {};
}

/// The command the user ran, as deep as parsing got.
const CLI::App* deepest(const CLI::App& app) {
  const CLI::App* cmd = &app;
  while (!cmd->get_subcommands().empty())
    cmd = cmd->get_subcommands().front();
  return cmd;
}

std::string unknown(const std::string& word, const char* kind) {
  return std::string("unknown ") + kind + " '" + word + "'";
}

/// CLI11's message for `e`, said the way the rest of troupe says things
/// where CLI11's own words mislead (it reports an unknown command as a
/// missing one).
std::string message(const CLI::App& app, const CLI::App* cmd, const CLI::ParseError& e) {
  const std::string what = e.what();
  const auto extras = app.remaining(true);
  // A mistyped option is the likelier mistake than what it left missing.
  if (!extras.empty() && extras.front().rfind('-', 0) == 0)
    return unknown(extras.front(), "option");
  // By type: CLI11 names some errors after the app that threw them.
  const bool required = dynamic_cast<const CLI::RequiredError*>(&e) != nullptr;
  if (required && what == "A subcommand is required") {
    if (!extras.empty())
      return unknown(extras.front(), "command") + (cmd == &app ? "" : " (its commands: " + commands_of(cmd) + ")");
    return cmd == &app ? "a command is required" : "a command is required: " + commands_of(cmd);
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&e) && !extras.empty()) {
    std::string list;
    for (const auto& x : extras)
      list += (list.empty() ? "'" : " '") + x + "'";
    return (extras.size() == 1 ? "unexpected argument " : "unexpected arguments ") + list;
  }
  if (required)
    for (const auto* opt : cmd->get_options())
      if (opt->get_envname() == config_env && opt->count() == 0 && what == opt->get_name() + " is required") {
        if (const auto given = config_given(cmd, extras); !given.empty())
          return opt->get_name() + ": " + config_problem(given);
        return opt->get_name() + " is required: the cluster config's path, or set " + config_env;
      }
  return what;
}

}  // namespace

void set_up_program(CLI::App& app, const std::string& version) {
  app.name("troupe");
  app.set_version_flag("--version", "troupe " + version);
  app.require_subcommand(1);
  app.fallthrough();
  // Commands, as their errors call them (CLI11 says subcommands); each
  // command added later takes its parent's group and the formatter.
  app.group("Commands");
  app.get_formatter()->label("SUBCOMMAND", "COMMAND");
  auto& end = help_end_of(&app);
  end.sections = {
      {"Environment",
       "  TROUPE_CONFIG      the CONFIG argument of every command that takes one\n"
       "  TROUPE_CLIENT      the client of the config to speak as (--client)\n"
       "  TROUPE_NODE        the node of troupe node and troupe probe (--node)\n"
       "  TROUPE_LOG_FORMAT  text or json: how troupe node, launch and gateway log (--log-format)\n"},
      {"Exit status",
       "  0   success; also --help, --version and troupe help\n"
       "  1   failure: a node that does not answer, a booking not settled, an audit violation, ...\n"
       "  2   a usage error, or a config that is not valid\n"
       "  3   troupe audit: a node could not be read\n"}};
  end.last_line = "Run 'troupe help COMMAND' for a command's arguments and an example.";
}

CLI::Option* add_config(CLI::App* sub, std::string& config) {
  // A word that is no file is left to the positionals after CONFIG, so that
  // with TROUPE_CONFIG set `troupe dlq show ID` takes ID as the ID.
  sub->validate_positionals();
  return sub
      ->add_option_function<std::string>(
          "CONFIG",
          [sub, &config](const std::string& path) {
            if (selected(sub))
              config = path;
          },
          "Cluster config (YAML)")
      ->required()
      ->envname(config_env)
      ->type_name("FILE")
      ->check(existing_config(sub));
}

CLI::Option* add_format(CLI::App* sub, std::string& format) {
  if (format.empty())
    format = "table";
  return sub->add_option("--format", format, "table, or json: one object per line")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

CLI::Option* add_log_format(CLI::App* sub, std::string& format) {
  if (format.empty())
    format = "text";
  // Not CLI::IsMember: CLI11 reads environment variables for every
  // command, and a bad TROUPE_LOG_FORMAT is no reason to refuse `troupe
  // status`. The description is what the completion offers.
  const CLI::Validator text_or_json(
      [sub](std::string& v) {
        return !selected(sub) || v == "text" || v == "json" ? std::string()
                                                             : "'" + v + "' is not text or json";
      },
      "{text,json}");
  return sub->add_option("--log-format", format, "text, or json: one object per line (UTC times either way)")
      ->envname(log_format_env)
      ->check(text_or_json)
      ->capture_default_str();
}

void example(CLI::App* sub, const std::string& command_line) { help_end_of(sub).examples.push_back(command_line); }

int report_parse_error(const CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
    return app.exit(e);  // --help, --version
  const auto* cmd = deepest(app);
  const auto path = command_path(cmd);
  const auto below = path.substr(app.get_name().size());  // " dlq list"
  std::cerr << path << ": " << message(app, cmd, e) << "\nRun '" << app.get_name() << " help" << below
            << "' for more.\n";
  return exit_usage;
}

}  // namespace troupe::cli
