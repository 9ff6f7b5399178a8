// The command line as a user meets it: its conventions (usage errors exit
// 2 and say where to read more, help with examples, TROUPE_CONFIG,
// --format json, the completion script and man page the build makes), bad
// configs, a node that cannot bind, a node that dies under the launcher.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

using namespace std::chrono_literals;

std::string source_root() {
  const char* root = std::getenv("TROUPE_SOURCE_ROOT");
  return root ? root : ".";
}

void no_stack_trace(const std::string& out) {
  EXPECT_EQ(out.find("terminate called"), std::string::npos) << out;
  EXPECT_EQ(out.find("what():"), std::string::npos) << out;
  EXPECT_EQ(out.find("Aborted"), std::string::npos) << out;
}

TEST(cli, bad_arguments_say_what_is_wrong_and_exit_2) {
  struct bad_args {
    std::vector<std::string> args;
    std::string says;  // what stderr must say, after "troupe[ command]: "
    std::string hint;  // the help it points to
  };
  const std::string flight = source_root() + "/configs/flight.yaml";
  const std::vector<bad_args> cases = {
      {{}, "troupe: a command is required", "troupe help"},
      {{"frobnicate"}, "troupe: unknown command 'frobnicate'", "troupe help"},
      {{"--bogus"}, "troupe: unknown option '--bogus'", "troupe help"},
      {{"status", flight, "--bogus"}, "troupe status: unknown option '--bogus'", "troupe help status"},
      {{"status", flight, "extra"}, "troupe status: unexpected argument 'extra'", "troupe help status"},
      {{"launch"}, "troupe launch: CONFIG is required: the cluster config's path, or set TROUPE_CONFIG",
       "troupe help launch"},
      {{"status", flight, "--format"}, "troupe status: --format", "troupe help status"},
      {{"check", "/nonexistent.yaml"}, "troupe check: CONFIG: File does not exist: /nonexistent.yaml",
       "troupe help check"},
      {{"book", flight, "--count", "-3"}, "troupe book: --count: Value -3 not in range", "troupe help book"},
      {{"book", flight, "--seat", "middle"}, "troupe book: --seat: middle not in {window,aisle,any}",
       "troupe help book"},
      {{"book", flight, "--json", "--format", "table"}, "troupe book: --json excludes --format", "troupe help book"},
      {{"bookings", flight, "--format", "xml"}, "troupe bookings: --format: xml not in {table,json}",
       "troupe help bookings"},
      {{"dlq"}, "troupe dlq: a command is required: list, show, redrive, purge", "troupe help dlq"},
      {{"dlq", "frob"}, "troupe dlq: unknown command 'frob'", "troupe help dlq"},
      {{"dlq", "show", flight}, "troupe dlq show: ID is required", "troupe help dlq show"},
      {{"dlq", "show", "/nonexistent.yaml", "ID"}, "troupe dlq show: CONFIG: File does not exist: /nonexistent.yaml",
       "troupe help dlq show"},
      {{"dlq", "purge", flight}, "troupe dlq purge: give dead-letter ids or --all", "troupe help dlq purge"},
      {{"dlq", "purge", flight, "x", "--all"}, "troupe dlq purge: ID excludes --all", "troupe help dlq purge"},
      {{"keygen"}, "troupe keygen: give a NAME or --config FILE", "troupe help keygen"},
      {{"keygen", "x", "--config", flight}, "troupe keygen: NAME excludes --config", "troupe help keygen"},
      {{"deploy", "systemd", flight}, "troupe deploy systemd: --out is required", "troupe help deploy systemd"},
      {{"help", "nosuch"}, "troupe help: unknown command 'nosuch'", "troupe help"},
      {{"help", "dlq", "nosuch"}, "troupe help: 'dlq' has no subcommand 'nosuch' (its commands: list, show",
       "troupe help"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{troupe_bin()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    std::string line;
    for (const auto& a : c.args)
      line += " " + a;
    // Not through the caller's TROUPE_CONFIG.
    argv.insert(argv.begin(), {"/usr/bin/env", "-u", "TROUPE_CONFIG"});
    auto r = run_command(argv, 10s);
    EXPECT_EQ(r.signal, 0) << "troupe" << line << " was killed by signal " << r.signal << "\n" << r.output;
    EXPECT_EQ(r.code, 2) << "troupe" << line << "\n" << r.output;
    EXPECT_EQ(r.output.rfind(c.says, 0), 0u) << "troupe" << line << " should begin with: " << c.says << "\n"
                                             << r.output;
    EXPECT_NE(r.output.find("Run '" + c.hint + "' for "), std::string::npos) << "troupe" << line << "\n" << r.output;
    EXPECT_LE(std::count(r.output.begin(), r.output.end(), '\n'), 2) << "troupe" << line << "\n" << r.output;
    EXPECT_EQ(r.output.find(troupe_bin()), std::string::npos) << "troupe" << line << "\n" << r.output;
    no_stack_trace(r.output);
  }
}

/// troupe run with `args` and only its stdout kept, so that its output can
/// be parsed; `env` ("NAME=value") set for it, and TROUPE_CONFIG only so.
run_result troupe_stdout(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                         std::chrono::seconds timeout = 10s) {
  std::vector<std::string> argv{"/usr/bin/env", "-u", "TROUPE_CONFIG"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {"/bin/sh", "-c", "exec \"$@\" 2>/dev/null", "sh", troupe_bin()});
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

/// The names listed under "Commands:" in a help text.
std::vector<std::string> commands_in_help(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  std::string line;
  bool in_list = false;
  while (std::getline(in, line)) {
    if (line == "Commands:") {
      in_list = true;
      continue;
    }
    std::smatch m;
    if (in_list && std::regex_match(line, m, std::regex("  ([a-z][a-z-]*)  .*")))
      names.push_back(m[1]);
    else if (in_list)
      in_list = false;
  }
  return names;
}

TEST(cli, help_names_troupe_and_shows_an_example_for_every_command) {
  auto top = troupe_stdout({"help"});
  EXPECT_EQ(top.code, 0) << top.output;
  EXPECT_NE(top.output.find("Usage: troupe [OPTIONS] COMMAND"), std::string::npos) << top.output;
  EXPECT_NE(top.output.find("TROUPE_CONFIG"), std::string::npos) << top.output;
  EXPECT_EQ(troupe_stdout({"--help"}).output, top.output);
  const auto commands = commands_in_help(top.output);
  for (const char* expected : {"launch", "check", "status", "dlq", "deploy", "keygen", "book", "bookings", "audit",
                               "help"})
    EXPECT_NE(std::find(commands.begin(), commands.end(), expected), commands.end()) << expected << "\n"
                                                                                      << top.output;
  EXPECT_EQ(std::find(commands.begin(), commands.end(), "completion"), commands.end()) << "hidden\n" << top.output;

  auto version = troupe_stdout({"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_TRUE(std::regex_match(version.output, std::regex("troupe [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << version.output;

  auto status = troupe_stdout({"help", "status"});
  EXPECT_EQ(status.code, 0) << status.output;
  EXPECT_NE(status.output.find("Usage: troupe status [OPTIONS] CONFIG"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("Example:\n  troupe status configs/flight.yaml"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("TROUPE_CONFIG"), std::string::npos) << status.output;
  EXPECT_EQ(status.output.find(troupe_bin()), std::string::npos) << status.output;
  EXPECT_EQ(status.output.find("/build"), std::string::npos) << status.output;
  EXPECT_EQ(troupe_stdout({"status", "--help"}).output, status.output);

  // Every command and subcommand, the applications' too.
  std::size_t seen = 0;
  for (const auto& command : commands) {
    auto help = troupe_stdout({"help", command});
    EXPECT_EQ(help.code, 0) << command << "\n" << help.output;
    EXPECT_NE(help.output.find("Usage: troupe " + command), std::string::npos) << command << "\n" << help.output;
    EXPECT_TRUE(std::regex_search(help.output, std::regex("Examples?:\n  ([A-Z_]+=[^ ]+ )?troupe " + command)))
        << command << "\n" << help.output;
    ++seen;
    for (const auto& sub : commands_in_help(help.output)) {
      auto sub_help = troupe_stdout({"help", command, sub});
      EXPECT_EQ(sub_help.code, 0) << command << " " << sub << "\n" << sub_help.output;
      EXPECT_NE(sub_help.output.find("Usage: troupe " + command + " " + sub), std::string::npos) << sub_help.output;
      EXPECT_TRUE(std::regex_search(sub_help.output, std::regex("Examples?:\n  troupe " + command + " " + sub)))
          << command << " " << sub << "\n" << sub_help.output;
      ++seen;
    }
  }
  EXPECT_GE(seen, 19u) << "the commands, dlq's four and deploy's two";
}

TEST(cli, troupe_config_stands_in_for_the_config_argument) {
  temp_dir dir;
  const auto file = (dir.path() / "open.yaml").string();
  std::ofstream(file) << "cluster: o\nnodes:\n  one:\n    endpoints: {pub: \"tcp://127.0.0.1:7000\", control: "
                         "\"tcp://127.0.0.1:7001\"}\n    services: [sink]\n"
                      << "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: sink}\n";
  auto check = run_command({"/usr/bin/env", "TROUPE_CONFIG=" + file, troupe_bin(), "check"}, 10s);
  EXPECT_EQ(check.code, 0) << check.output;
  EXPECT_NE(check.output.find(file + ": ok (1 nodes, 1 rules, OPEN)"), std::string::npos) << check.output;

  // Named, it is checked as the argument is, and said to come from there.
  auto missing = run_command({"/usr/bin/env", "TROUPE_CONFIG=/nonexistent.yaml", troupe_bin(), "check"}, 10s);
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("troupe check: CONFIG: File does not exist: /nonexistent.yaml (named by "
                                "TROUPE_CONFIG)"),
            std::string::npos)
      << missing.output;
  // The argument wins over it, and the commands that take no config, or
  // were not run, never look at it.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"check", file}, {"--help"}, {"help", "status"}, {"keygen", "k", "--dir", dir.path()},
        {"test-pattern", "--pattern", R"({"detail-type": ["A"]})", "--event", R"({"detail-type": "A"})"}}) {
    std::vector<std::string> argv{"/usr/bin/env", "TROUPE_CONFIG=/nonexistent.yaml", troupe_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, 10s);
    EXPECT_EQ(r.code, 0) << args.front() << "\n" << r.output;
    EXPECT_EQ(r.output.find("nonexistent"), std::string::npos) << args.front() << "\n" << r.output;
  }
  // keygen without a NAME makes the pairs the config names.
  auto keygen = run_command({"/usr/bin/env", "TROUPE_CONFIG=" + file, troupe_bin(), "keygen"}, 10s);
  EXPECT_EQ(keygen.code, 0) << keygen.output;
  EXPECT_NE(keygen.output.find("0 key pairs made"), std::string::npos) << keygen.output;
}

/// Every line of `out` as JSON; fails the test on one that is not.
std::vector<nlohmann::json> json_lines(const std::string& what, const run_result& r) {
  std::vector<nlohmann::json> out;
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << what << ": not a JSON object: " << line << "\n" << r.output;
    out.push_back(std::move(j));
  }
  return out;
}

TEST(cli, every_data_command_prints_json_with_format_json) {
  // Payment refuses Mallory's bookings for good: a dead letter to show.
  cluster c(shipped{"configs/flight.yaml",
                    "faults:\n  payment: {poison: {\"detail\": {\"customer\": [{\"prefix\": \"Mallory\"}]}}}\n", "",
                    ""});
  c.start();
  const auto cfg = c.config_path();
  const std::vector<std::string> in_env{"TROUPE_CONFIG=" + cfg};

  auto book = troupe_stdout({"book", cfg, "--count", "4", "--seed", "2", "--quiet", "--format", "json"}, {}, 90s);
  auto summary = json_lines("book --count", book);
  ASSERT_EQ(summary.size(), 1u) << book.output;
  EXPECT_EQ(summary[0].value("bookings", 0), 4) << book.output;
  auto poison = troupe_stdout({"book", "--customer", "Mallory Smith", "--format", "json"}, in_env, 90s);
  summary = json_lines("book", poison);
  ASSERT_EQ(summary.size(), 1u) << poison.output;
  EXPECT_EQ(summary[0].value("dead_lettered", 0), 1) << poison.output;
  auto put_only = troupe_stdout({"book", cfg, "--wait", "0", "--format", "json"}, {}, 60s);
  summary = json_lines("book --wait 0", put_only);
  ASSERT_EQ(summary.size(), 1u) << put_only.output;
  EXPECT_EQ(summary[0]["ids"].size(), 1u) << put_only.output;
  // The flag it had before: hidden, still there, said to be deprecated.
  auto deprecated = run_command({troupe_bin(), "book", cfg, "--wait", "0", "--json"}, 60s);
  EXPECT_EQ(deprecated.code, 0) << deprecated.output;
  EXPECT_NE(deprecated.output.find("--json is deprecated, use --format json"), std::string::npos)
      << deprecated.output;
  EXPECT_NE(deprecated.output.find("{\"bookings\":1,\"ids\":"), std::string::npos) << deprecated.output;

  // Those put without waiting are listed once the booking service took them.
  run_result bookings;
  EXPECT_TRUE(wait_until(
      [&] {
        bookings = troupe_stdout({"bookings", "--format", "json"}, in_env);
        return json_lines("bookings", bookings).size() == 7;
      },
      30s))
      << bookings.output;
  EXPECT_EQ(bookings.code, 0) << bookings.output;
  auto status = troupe_stdout({"status", "--format", "json"}, in_env);
  EXPECT_EQ(status.code, 0) << status.output;
  EXPECT_EQ(json_lines("status", status).size(), 6u) << "one per node\n" << status.output;
  auto audit = troupe_stdout({"audit", "--format", "json", "--wait", "30", "--allow-in-flight"}, in_env, 60s);
  const auto report = json_lines("audit", audit);
  ASSERT_EQ(report.size(), 1u) << audit.output;
  EXPECT_TRUE(report[0].contains("ok")) << audit.output;

  auto list = troupe_stdout({"dlq", "list", "--format", "json"}, in_env);
  EXPECT_EQ(list.code, 0) << list.output;
  const auto letters = json_lines("dlq list", list);
  ASSERT_EQ(letters.size(), 1u) << list.output;
  const auto id = letters[0].value("id", "");
  auto show = troupe_stdout({"dlq", "show", id, "--format", "json"}, in_env);
  EXPECT_EQ(show.code, 0) << show.output;
  const auto shown = json_lines("dlq show", show);
  ASSERT_EQ(shown.size(), 1u) << show.output;
  EXPECT_EQ(shown[0].value("ERROR_CODE", ""), "PERMANENT_ERROR") << show.output;
  auto redrive = troupe_stdout({"dlq", "redrive", id, "--format", "json"}, in_env, 60s);
  EXPECT_EQ(redrive.code, 0) << redrive.output;
  const auto redriven = json_lines("dlq redrive", redrive);
  ASSERT_EQ(redriven.size(), 1u) << redrive.output;
  EXPECT_EQ(redriven[0], (nlohmann::json{{"id", id}, {"redriven", true}})) << redrive.output;
  // Poison again: back in the DLQ under a new id, then purged.
  ASSERT_TRUE(wait_until([&] { return json_lines("dlq list", troupe_stdout({"dlq", "list", "--format", "json"},
                                                                           in_env)).size() == 1; },
                         30s));
  auto purge = troupe_stdout({"dlq", "purge", "--all", "--format", "json"}, in_env, 60s);
  EXPECT_EQ(purge.code, 0) << purge.output;
  const auto purged = json_lines("dlq purge", purge);
  ASSERT_EQ(purged.size(), 1u) << purge.output;
  EXPECT_EQ(purged[0].value("purged", false), true) << purge.output;
  auto none = troupe_stdout({"dlq", "purge", "--all", "--format", "json"}, in_env, 60s);
  EXPECT_EQ(none.code, 0) << none.output;
  EXPECT_EQ(none.output, "") << "no dead letters: no lines";
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

/// A file the build made beside troupe: `env` names it under meson test,
/// else it is `relative` to the build directory troupe is in.
std::filesystem::path built_file(const char* env, const std::string& relative) {
  if (const char* path = std::getenv(env))
    return path;
  return std::filesystem::path(troupe_bin()).parent_path() / relative;
}

/// What the completion script offers for `words` (the last one being
/// completed), one per line, sorted.
std::set<std::string> complete(const std::vector<std::string>& words) {
  std::vector<std::string> argv{"/bin/bash", "--norc", "-c",
                                "source \"$1\" || exit 3; shift; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); "
                                "_troupe; printf '%s\\n' \"${COMPREPLY[@]}\"",
                                "bash", built_file("TROUPE_COMPLETION", "launcher/completion/troupe").string()};
  argv.insert(argv.end(), words.begin(), words.end());
  auto r = run_command(argv, 10s);
  EXPECT_EQ(r.code, 0) << r.output;
  std::set<std::string> offered;
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty())
      offered.insert(line);
  return offered;
}

using offers = std::set<std::string>;

TEST(cli, bash_completion_offers_commands_subcommands_options_and_configs) {
  const auto script = built_file("TROUPE_COMPLETION", "launcher/completion/troupe");
  ASSERT_TRUE(std::filesystem::exists(script)) << script;
  auto loads = run_command({"/bin/bash", "--norc", "-c", "source \"$1\" && complete -p troupe", "bash", script}, 10s);
  EXPECT_EQ(loads.code, 0) << loads.output;
  EXPECT_EQ(loads.output, "complete -F _troupe troupe\n");
  // As the binary prints it: made by the build, not stale.
  std::ifstream in(script);
  const std::string installed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(installed, run_command({troupe_bin(), "completion", "bash"}, 10s).output);

  EXPECT_EQ(complete({"troupe", "d"}), (offers{"dashboard", "deploy", "dlq"}));
  EXPECT_EQ(complete({"troupe", "dlq", ""}), (offers{"list", "show", "redrive", "purge"}));
  EXPECT_EQ(complete({"troupe", "status", "--f"}), (offers{"--format"}));
  EXPECT_EQ(complete({"troupe", "status", "c.yaml", "--format", ""}), (offers{"table", "json"}));
  EXPECT_EQ(complete({"troupe", "status", "--format", "=", "j"}), (offers{"json"}));
  EXPECT_EQ(complete({"troupe", "status", "--format=j"}), (offers{"--format=json"}));
  EXPECT_EQ(complete({"troupe", "book", "c.yaml", "--seat", "a"}), (offers{"aisle", "any"}));
  EXPECT_EQ(complete({"troupe", "--client", "ops", "sta"}), (offers{"status"}));
  EXPECT_EQ(complete({"troupe", "help", "dlq", "re"}), (offers{"redrive"}));
  EXPECT_EQ(complete({"troupe", "deploy", "systemd", "c.yaml", "--h"}), (offers{"--help", "--host"}));
  // The whole program's options follow a command too.
  EXPECT_EQ(complete({"troupe", "dlq", "list", "--cl"}), (offers{"--client"}));

  // A config: directories and YAML files.
  temp_dir dir;
  std::ofstream(dir.path() / "flight.yaml") << "";
  std::ofstream(dir.path() / "notes.txt") << "";
  std::filesystem::create_directories(dir.path() / "configs");
  const auto base = dir.path().string() + "/";
  EXPECT_EQ(complete({"troupe", "status", base}), (offers{base + "flight.yaml", base + "configs"}));
  EXPECT_EQ(complete({"troupe", "dlq", "show", base + "f"}), (offers{base + "flight.yaml"}));
  EXPECT_EQ(complete({"troupe", "keygen", "--config", base + "f"}), (offers{base + "flight.yaml"}));

  // Every command the help lists.
  const auto commands = commands_in_help(troupe_stdout({"help"}).output);
  ASSERT_FALSE(commands.empty());
  EXPECT_EQ(complete({"troupe", ""}), offers(commands.begin(), commands.end()));
}

TEST(cli, the_man_page_is_built_and_names_every_command) {
  const auto page = built_file("TROUPE_MAN", "troupe.1");
  ASSERT_TRUE(std::filesystem::exists(page)) << page << " (is help2man installed?)";
  std::ifstream in(page);
  const std::string roff((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(roff.find(".TH TROUPE \"1\""), std::string::npos) << roff.substr(0, 300);
  const auto commands = commands_in_help(troupe_stdout({"help"}).output);
  ASSERT_FALSE(commands.empty());
  for (const auto& command : commands)
    EXPECT_NE(roff.find(".SS \"troupe " + command), std::string::npos) << command << "\n" << roff;
  for (const char* section :
       {".SH SYNOPSIS", ".SH COMMANDS", ".SH ENVIRONMENT", ".SH \"EXIT STATUS\"", ".SH EXAMPLES", "TROUPE_CONFIG"})
    EXPECT_NE(roff.find(section), std::string::npos) << section;
  EXPECT_EQ(roff.find(std::filesystem::path(troupe_bin()).parent_path().string()), std::string::npos)
      << "no build path";
}

TEST(cli, the_shipped_config_is_valid) {
  // As shipped, its keys are made on first run: without them every
  // missing one is named, with the command that makes them.
  temp_dir dir;
  std::filesystem::create_directories(dir.path() / "configs");
  std::filesystem::copy_file(source_root() + "/configs/flight.yaml", dir.path() / "configs" / "flight.yaml");
  const auto file = (dir.path() / "configs" / "flight.yaml").string();
  auto missing = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_NE(missing.output.find("flight.yaml:16:22: nodes.booking.public-key-file: cannot read "), std::string::npos)
      << missing.output;
  EXPECT_NE(missing.output.find("troupe keygen --config"), std::string::npos) << missing.output;
  auto made = run_command({troupe_bin(), "keygen", "--config", file}, 10s);
  EXPECT_EQ(made.code, 0) << made.output;
  EXPECT_NE(made.output.find("9 key pairs made, 0 already there"), std::string::npos) << made.output;
  auto r = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ok (6 nodes, 8 rules, CurveZMQ on every socket, 3 clients)"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("OPEN"), std::string::npos) << r.output;
  // The gateway's secret access key, as `troupe gateway` would hold it: one
  // others may read is named before the gateway is started.
  const auto secret = dir.path() / "data" / "keys" / "flight" / "shop.aws";
  ASSERT_TRUE(std::filesystem::exists(secret));
  std::filesystem::permissions(secret, std::filesystem::perms::group_read | std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  auto loose = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(loose.code, 1) << loose.output;
  EXPECT_NE(loose.output.find("gateway.access-keys.AKIAFLIGHTSHOP000001: "), std::string::npos) << loose.output;
  EXPECT_NE(loose.output.find("may be read by others"), std::string::npos) << loose.output;
}

TEST(cli, an_open_config_is_said_to_be_open_and_one_open_beyond_loopback_is_refused) {
  temp_dir dir;
  const auto file = (dir.path() / "open.yaml").string();
  const auto write = [&](const std::string& host) {
    std::ofstream(file) << "cluster: o\nnodes:\n  one:\n    endpoints: {pub: \"tcp://" << host
                        << ":" << 7000 << "\", control: \"tcp://127.0.0.1:7001\"}\n    services: [sink]\n"
                        << "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: sink}\n";
  };
  write("127.0.0.1");
  auto ok = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("ok (1 nodes, 1 rules, OPEN)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("WARNING: the cluster 'o' is OPEN"), std::string::npos) << ok.output;
  write("0.0.0.0");
  auto refused = run_command({troupe_bin(), "check", file}, 10s);
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("open.yaml:4:22: nodes.one.endpoints.pub: 'tcp://0.0.0.0:7000' is reachable from "
                                "other machines"),
            std::string::npos)
      << refused.output;
  no_stack_trace(refused.output);
}

TEST(cli, a_bad_config_lists_every_problem_and_starts_nothing) {
  temp_dir tmp;
  const auto path = (tmp.path() / "bad.yaml").string();
  std::ofstream(path) << R"(cluster: bad
nodes:
  booking:
    endpoints: {pub: "tcp://127.0.0.1:1", control: "tcp://127.0.0.1:1"}
    services: [booking, flying-carpet]
services:
  seat:
    flights: {TR1: {rows: 0, layout: "AB"}}
rules:
  - name: r
    pattern: {"detail-type": "BookingRequested"}
    target: nobody
)";
  for (const char* cmd : {"check", "launch"}) {
    auto r = run_command({troupe_bin(), cmd, path}, 10s);
    EXPECT_EQ(r.code, 2) << r.output;
    for (const char* want : {":4:", ":5:", ":7:", ":11:", ":12:"})
      EXPECT_NE(r.output.find(path + want), std::string::npos) << want << " in\n" << r.output;
    EXPECT_NE(r.output.find("nothing started"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("started node"), std::string::npos) << r.output;
    // Every problem line is file:line:column: reason.
    std::istringstream lines(r.output);
    std::string line;
    std::size_t problems = 0;
    while (std::getline(lines, line))
      if (line.rfind(path, 0) == 0) {
        EXPECT_TRUE(std::regex_search(line, std::regex("^" + path + ":[0-9]+:[0-9]+: .+"))) << line;
        ++problems;
      }
    EXPECT_GE(problems, 5u) << r.output;
  }
}

const std::map<std::string, std::vector<std::string>> one_node = {{"solo", {"ticket"}}};
const char* ticket_rules = "rules:\n  - {name: t, pattern: {\"detail-type\": [\"SeatAssigned\"]}, target: ticket}\n";

TEST(cli, a_node_that_cannot_bind_says_so) {
  cluster c(one_node, ticket_rules);
  c.start();
  // A second copy of the same node finds its store taken, before it would
  // write to it, and says by whom.
  auto r = run_command({troupe_bin(), "node", c.config_path(), "--node", "solo"}, 20s);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is in use by another process (pid "), std::string::npos) << r.output;
  no_stack_trace(r.output);
  // The same node with a store of its own finds its ports taken.
  std::ifstream in(c.config_path());
  const std::string moved((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_NE(moved.find("data-dir:"), std::string::npos);
  const auto other = c.dir() / "other.yaml";
  std::ofstream(other) << std::regex_replace(moved, std::regex("data-dir: *[^\\n]*"),
                                             "data-dir: " + (c.dir() / "other-data").string());
  auto ports = run_command({troupe_bin(), "node", other.string(), "--node", "solo"}, 20s);
  EXPECT_EQ(ports.code, 1) << ports.output;
  EXPECT_NE(ports.output.find("cannot set up sockets"), std::string::npos) << ports.output;
  no_stack_trace(ports.output);
  auto unknown = run_command({troupe_bin(), "node", c.config_path(), "--node", "nobody"}, 10s);
  EXPECT_EQ(unknown.code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("no node 'nobody'"), std::string::npos) << unknown.output;
  EXPECT_EQ(c.stop(), 0) << c.launcher_output();
}

TEST(cli, the_launcher_reports_a_node_that_dies) {
  cluster c({{"one", {"ticket"}}, {"two", {"seat"}}},
            "supervision: {max-restarts: 0}\nservices:\n  seat:\n    flights: {F: {rows: 1, layout: \"AB\"}}\n" +
                std::string(ticket_rules));
  c.start();
  auto out = c.launcher_output();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("started node two \\(pid ([0-9]+)\\)"))) << out;
  const pid_t pid = std::stoi(m[1].str());
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(wait_until([&] { return c.launcher_output().find("node two killed by signal 9") != std::string::npos; },
                         10s))
      << c.launcher_output();
  // With no restarts allowed the node is failed; the launcher goes on with
  // the other node and stops it cleanly, exiting 1 for the failed one.
  EXPECT_EQ(c.stop(), 1) << "a node failed, so the launch did not end cleanly";
  EXPECT_FALSE(c.any_process_left());
  EXPECT_NE(c.launcher_output().find("all nodes stopped"), std::string::npos);
}

TEST(cli, probe_says_ready_only_while_the_node_that_said_so_runs) {
  cluster c({{"one", {"sink"}}}, "rules:\n  - {name: r, pattern: {\"detail-type\": [\"X\"]}, target: sink}\n");
  const auto probe = [&] { return run_command({troupe_bin(), "probe", c.config_path(), "--node", "one"}, 10s); };
  auto before = probe();
  EXPECT_EQ(before.code, 1) << before.output;
  EXPECT_NE(before.output.find("node one is not ready: no ready marker"), std::string::npos) << before.output;
  auto unknown = run_command({troupe_bin(), "probe", c.config_path(), "--node", "two"}, 10s);
  EXPECT_EQ(unknown.code, 2) << unknown.output;

  c.start_node("one");
  ASSERT_TRUE(wait_until([&] { return probe().code == 0; }, 20s)) << c.node_output("one");
  EXPECT_NE(probe().output.find("node one is ready (pid "), std::string::npos);
  c.signal_node("one", SIGTERM);
  EXPECT_EQ(c.wait_node("one"), 0) << c.node_output("one");
  auto stopped = probe();
  EXPECT_EQ(stopped.code, 1) << stopped.output;
  EXPECT_FALSE(std::filesystem::exists(c.node_data_dir("one") / "ready"));

  // Killed, it leaves its marker, which speaks for nobody.
  c.start_node("one");
  ASSERT_TRUE(wait_until([&] { return probe().code == 0; }, 20s)) << c.node_output("one");
  c.signal_node("one", SIGKILL);
  c.wait_node("one");
  EXPECT_TRUE(std::filesystem::exists(c.node_data_dir("one") / "ready"));
  auto killed = probe();
  EXPECT_EQ(killed.code, 1) << killed.output;
  EXPECT_NE(killed.output.find(") is gone"), std::string::npos) << killed.output;
}

TEST(cli, test_pattern_answers_like_test_event_pattern) {
  const std::string pattern = R"({"detail-type": ["A"], "detail": {"n": [{"numeric": [">", 3]}]}})";
  auto yes = run_command({troupe_bin(), "test-pattern", "--pattern", pattern, "--event",
                          R"({"detail-type": "A", "detail": {"n": 4}})"},
                         10s);
  EXPECT_EQ(yes.code, 0) << yes.output;
  EXPECT_NE(yes.output.find("match"), std::string::npos);
  auto no = run_command({troupe_bin(), "test-pattern", "--pattern", pattern, "--event",
                         R"({"detail-type": "A", "detail": {"n": 3}})"},
                        10s);
  EXPECT_EQ(no.code, 1) << no.output;
  EXPECT_NE(no.output.find("no match"), std::string::npos);
  auto bad = run_command({troupe_bin(), "test-pattern", "--pattern", R"({"detail-type": "A"})", "--event", "{}"}, 10s);
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("detail-type"), std::string::npos) << bad.output;
}

} // namespace
} // namespace troupe::test
