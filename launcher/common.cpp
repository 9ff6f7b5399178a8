#include "launcher/common.hpp"

#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "actors/builtin/sink.hpp"
#include "actors/service_log.hpp"
#include "launcher/application.hpp"
#include "launcher/keys.hpp"
#include "wire/client.hpp"

#include <spdlog/spdlog.h>

namespace troupe::cli {

const service_registry& registry() {
  static const service_registry reg = [] {
    service_registry r;
    builtin::register_builtin(r);
    for (const auto& app : applications())
      if (app.services)
        app.services(r);
    // Services' log lines join the node's log (its default logger).
    set_log_sink([](const std::string& line) { spdlog::info("{}", line); });
    return r;
  }();
  return reg;
}

std::optional<cluster::config> load_config(const std::string& path) {
  cluster::diagnostics diag(path);
  // Relative paths in service settings are from the config's directory.
  const auto config_dir = std::filesystem::absolute(path).parent_path().lexically_normal();
  auto check = [config_dir](const std::string& name, const YAML::Node& settings, cluster::diagnostics& d) {
    const auto* factory = registry().find(name);
    if (!factory)
      return false;
    // Constructing validates; constructors have no side effects.
    (void)(*factory)(settings, service_context{"", {}, config_dir}, d);
    return true;
  };
  auto cfg = cluster::load(path, check, diag);
  if (!cfg) {
    std::fputs(diag.to_string().c_str(), stderr);
    std::fprintf(stderr, "troupe: %zu problem%s in %s; nothing started\n", diag.problems().size(),
                 diag.problems().size() == 1 ? "" : "s", path.c_str());
  }
  return cfg;
}

result<nlohmann::json> query(const cluster::config& cfg, const std::string& service, const std::string& what,
                             const nlohmann::json& args, std::chrono::milliseconds timeout) {
  const auto* node = cfg.node_hosting(service);
  if (!node)
    return error{errc::no_such_service, "no node runs service '" + service + "'"};
  auto c = connect(cfg, *node, cluster::reader);
  if (!c)
    return c.err();
  wire::control_request req;
  req.verb = "query";
  req.service = service;
  req.what = what;
  req.args = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto rep = (*c)->call(req, timeout);
  if (!rep)
    return rep.err();
  if (!rep->ok)
    return error{errc::refused, "node " + node->name + ": " + rep->body};
  auto j = nlohmann::json::parse(rep->body, nullptr, false);
  if (j.is_discarded())
    return error{errc::bad_answer, "node " + node->name + " answered with invalid JSON"};
  return j;
}

namespace {

result<nlohmann::json> ask(const cluster::config& cfg, const cluster::node_spec& node,
                           const wire::control_request& req, std::chrono::milliseconds timeout) {
  auto c = connect(cfg, node, cluster::reader);
  if (!c)
    return c.err();
  auto rep = (*c)->call(req, timeout);
  if (!rep)
    return rep.err();
  if (!rep->ok)
    return error{errc::refused, "node " + node.name + ": " + rep->body};
  auto j = nlohmann::json::parse(rep->body, nullptr, false);
  if (j.is_discarded())
    return error{errc::bad_answer, "node " + node.name + " answered with invalid JSON"};
  return j;
}

}  // namespace

result<nlohmann::json> status(const cluster::config& cfg, const cluster::node_spec& node,
                              std::chrono::milliseconds timeout) {
  wire::control_request req;
  req.verb = "status";
  return ask(cfg, node, req, timeout);
}

result<nlohmann::json> trace(const cluster::config& cfg, const cluster::node_spec& node, const std::string& what,
                             const nlohmann::json& args, std::chrono::milliseconds timeout) {
  wire::control_request req;
  req.verb = "trace";
  req.what = what;
  req.args = args.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return ask(cfg, node, req, timeout);
}

result<void> wait_ready(const cluster::config& cfg, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto peers = cfg.nodes.size() - 1;
  // Each node needs to be seen up with all its peers once: across a lossy
  // link a status request can take seconds, and every node answering in
  // one pass might never happen.
  std::set<std::string> seen;
  std::string missing;
  while (true) {
    missing.clear();
    for (const auto& n : cfg.nodes) {
      if (seen.count(n.name))
        continue;
      auto s = status(cfg, n, std::chrono::seconds(2));
      // Waiting cannot mend a key this user lacks or a role it lacks.
      if (!s && (s.err().code == errc::no_key || s.err().code == errc::refused))
        return s.err();
      if (!s || !s->contains("wire") || (*s)["wire"].value("peers_connected", std::size_t{0}) < peers)
        missing += (missing.empty() ? "" : ", ") + n.name;
      else
        seen.insert(n.name);
    }
    if (missing.empty())
      return {};
    if (std::chrono::steady_clock::now() >= deadline)
      return error{errc::not_ready, "not ready: " + missing};
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

} // namespace troupe::cli

namespace troupe::cli {

const char* errc_codes::name(int code) {
  switch (static_cast<errc>(code)) {
    case errc::no_such_service: return "no_such_service";
    case errc::refused: return "refused";
    case errc::bad_answer: return "bad_answer";
    case errc::not_ready: return "not_ready";
    case errc::no_key: return "no_key";
    case errc::not_deployable: return "not_deployable";
    case errc::cannot_write: return "cannot_write";
  }
  return "unknown";
}

} // namespace troupe::cli

TROUPE_ERROR_CATEGORY(troupe::cli, errc, errc_codes)
