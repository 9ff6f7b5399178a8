#include "launcher/application.hpp"

#include <CLI/CLI.hpp>

#include "launcher/cli_conventions.hpp"

namespace troupe::cli {

namespace {
std::vector<application>& all() {
  static std::vector<application> apps;  // filled by static initializers, read after main starts
  return apps;
}
}  // namespace

bool register_application(application a) {
  all().push_back(std::move(a));
  return true;
}

const std::vector<application>& applications() { return all(); }

std::shared_ptr<std::string> add_config(CLI::App* sub) {
  auto path = std::make_shared<std::string>();
  add_config(sub, *path);  // the command that holds `path` lives as long as the parser
  return path;
}

}  // namespace troupe::cli
