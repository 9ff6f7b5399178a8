#include "launcher/cli_completion.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

#include <CLI/CLI.hpp>

#include "launcher/cli_conventions.hpp"

namespace troupe::cli {

namespace {

// The script's own logic; the generated part before it says, per command
// path ("" for the top, "dlq list" for a subcommand), its subcommands, its
// options, what each option's value is, and what its positionals are.
constexpr const char* bash_logic = R"(
# Completes $2 as a word of kind $1: config, file, dir, words:A,B, command.
_troupe_complete() {
  case $1 in
    config)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$2"; compgen -f -X '!*.y*ml' -- "$2") ;;
    file)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$2") ;;
    dir)
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -d -- "$2") ;;
    words:*)
      local words=${1#words:}
      mapfile -t COMPREPLY < <(compgen -W "${words//,/ }" -- "$2") ;;
    command)  # troupe help COMMAND SUBCOMMAND: the words typed after help
      _troupe_commands "${positional[*]}"
      mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$2") ;;
  esac
}

_troupe() {
  local cur=${COMP_WORDS[COMP_CWORD]} path= opt= prefix= i w REPLY
  local -a positional=()
  COMPREPLY=()
  # bash splits --format=json at the '=' (COMP_WORDBREAKS), unless told not to.
  if [[ $cur == = ]]; then
    opt=${COMP_WORDS[COMP_CWORD-1]} cur=
  elif ((COMP_CWORD > 1)) && [[ ${COMP_WORDS[COMP_CWORD-1]} == = ]]; then
    opt=${COMP_WORDS[COMP_CWORD-2]}
  elif [[ $cur == --*=* ]]; then  # one word: the replies keep the option
    opt=${cur%%=*} prefix=${cur%%=*}= cur=${cur#*=}
  fi
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == = ]]; then
      ((i += 1))  # and its value
    elif [[ $w == -* ]]; then
      [[ ${COMP_WORDS[i+1]} == = || $w == --*=* ]] && continue
      _troupe_option_kind "$path" "$w"
      if [[ $REPLY != flag ]]; then
        ((i + 1 == COMP_CWORD)) && opt=$w
        ((i += 1))
      fi
    elif ((${#positional[@]} == 0)) && _troupe_commands "$path" && [[ " $REPLY " == *" $w "* ]]; then
      path=${path:+$path }$w
    else
      positional+=("$w")
    fi
  done
  if [[ -n $opt ]]; then
    _troupe_option_kind "$path" "$opt"
    _troupe_complete "$REPLY" "$cur"
    COMPREPLY=("${COMPREPLY[@]/#/$prefix}")
  elif [[ $cur == -* ]]; then
    _troupe_options "$path"
    mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur")
  elif ((${#positional[@]} == 0)) && _troupe_commands "$path" && [[ -n $REPLY ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur")
  else
    _troupe_positionals "$path"
    local -a kinds=($REPLY)
    local n=${#positional[@]} kind=
    if ((n < ${#kinds[@]})); then
      kind=${kinds[n]}
    elif ((${#kinds[@]})) && [[ ${kinds[-1]} == *... ]]; then
      kind=${kinds[-1]}
    fi
    _troupe_complete "${kind%...}" "$cur"
  fi
}
)";

bool hidden(const CLI::App* a) { return a->get_group().empty(); }
bool hidden(const CLI::Option* o) { return o->get_group().empty(); }

/// What a value of `opt` is, as _troupe_complete takes it.
std::string kind_of(const CLI::Option* opt) {
  if (opt->get_expected_max() == 0)
    return "flag";
  const auto& l = opt->get_lnames();
  if (opt->get_envname() == config_env || std::find(l.begin(), l.end(), "config") != l.end())
    return "config";
  const auto type = opt->get_type_name();
  const auto open = type.find('{'), close = type.find('}', open);
  if (open != std::string::npos && close != std::string::npos)
    return "words:" + type.substr(open + 1, close - open - 1);  // CLI::IsMember's "{table,json}"
  if (type.find("FILE") != std::string::npos)
    return "file";
  if (type.find("DIR") != std::string::npos)
    return "dir";
  return "text";
}

std::vector<std::string> names_of(const CLI::Option* opt) {
  std::vector<std::string> names;
  for (const auto& s : opt->get_snames())
    names.push_back("-" + s);
  for (const auto& l : opt->get_lnames())
    names.push_back("--" + l);
  return names;
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words)
    out += (out.empty() ? "" : " ") + w;
  return out;
}

/// The case arms of each function, for one command and those below it.
struct tables {
  std::ostringstream commands, options, kinds, positionals;

  void add(const CLI::App* cmd, const std::string& path, std::vector<const CLI::Option*> inherited) {
    std::vector<std::string> subs, opts, pos;
    for (const auto* s : cmd->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }))
      if (!hidden(s))
        subs.push_back(s->get_name());
    std::vector<const CLI::Option*> own = inherited;
    for (const auto* o : cmd->get_options())
      if (!hidden(o) && o->nonpositional())
        own.push_back(o);
    for (const auto* o : own)
      for (const auto& n : names_of(o)) {
        opts.push_back(n);
        if (const auto k = kind_of(o); k != "flag")
          kinds << "    '" << path << '|' << n << "') REPLY='" << k << "' ;;\n";
      }
    for (const auto* o : cmd->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
      // `troupe help`'s words are commands.
      const bool help = cmd->get_parent() && !cmd->get_parent()->get_parent() && cmd->get_name() == "help";
      pos.push_back((help ? "command" : kind_of(o)) + (o->get_items_expected_max() > 1 ? "..." : ""));
    }
    commands << "    '" << path << "') REPLY='" << joined(subs) << "' ;;\n";
    options << "    '" << path << "') REPLY='" << joined(opts) << "' ;;\n";
    if (!pos.empty())
      positionals << "    '" << path << "') REPLY='" << joined(pos) << "' ;;\n";
    // A subcommand takes its parents' options (the app falls through), but
    // not their --help or --version.
    std::vector<const CLI::Option*> below;
    for (const auto* o : own)
      if (o != cmd->get_help_ptr() && o != cmd->get_version_ptr())
        below.push_back(o);
    for (const auto* s : cmd->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); }))
      if (!hidden(s))
        add(s, path.empty() ? s->get_name() : path + " " + s->get_name(), below);
  }
};

}  // namespace

std::string bash_completion(const CLI::App& app) {
  tables t;
  t.add(&app, "", {});
  const auto& name = app.get_name();
  std::ostringstream out;
  out << "# bash completion for " << name << ", made by '" << name
      << " completion bash' from the command line's own definition.\n"
      << "# Generated at build time: do not edit.\n\n"
      << "# Each takes a command path (\"\" for " << name << " itself, \"dlq list\") and sets REPLY.\n"
      << "_troupe_commands() {\n  case $1 in\n" << t.commands.str() << "    *) REPLY= ;;\n  esac\n}\n\n"
      << "_troupe_options() {\n  case $1 in\n" << t.options.str() << "    *) REPLY= ;;\n  esac\n}\n\n"
      << "# $2 an option of $1: what its value is (flag: none).\n"
      << "_troupe_option_kind() {\n  case \"$1|$2\" in\n" << t.kinds.str() << "    *) REPLY=flag ;;\n  esac\n}\n\n"
      << "# What its positionals are, in order; '...' repeats.\n"
      << "_troupe_positionals() {\n  case $1 in\n" << t.positionals.str() << "    *) REPLY= ;;\n  esac\n}\n"
      << bash_logic << "\ncomplete -F _troupe " << name << "\n";
  return out.str();
}

CLI::App* add_completion_command(CLI::App& app, std::string& shell) {
  auto* sub = app.add_subcommand("completion", "Print the shell completion script (installed by the build)");
  sub->group("");  // hidden: the build uses it, a user rarely does
  sub->add_option("SHELL", shell, "The shell")->required()->check(CLI::IsMember({"bash"}));
  example(sub, "source <(troupe completion bash)");
  return sub;
}

}  // namespace troupe::cli
