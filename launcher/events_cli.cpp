#include "launcher/events_cli.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "gateway/api.hpp"
#include "gateway/server.hpp"
#include "launcher/cli_conventions.hpp"
#include "launcher/keys.hpp"
#include "wire/envelope.hpp"

namespace troupe::cli {

namespace {

using json = nlohmann::json;

/// `--entries`: JSON text, or file://PATH as the AWS CLI takes it.
std::optional<std::string> read_entries(const std::string& arg) {
  constexpr std::string_view file = "file://";
  if (arg.rfind(file, 0) != 0)
    return arg;
  const std::string path = arg.substr(file.size());
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    std::fprintf(stderr, "troupe: put-events: cannot read %s: it is a directory\n", path.c_str());
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "troupe: put-events: cannot read %s: %s\n", path.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    std::fprintf(stderr, "troupe: put-events: cannot read %s: %s\n", path.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  return text.str();
}

struct put_events_args {
  std::string entries, node, key, format = "json";
};

/// Puts, retrying a call that got no answer with the same idempotency
/// keys (so nothing is put twice) until `deadline`.
int put_events(const cluster::config& cfg, const put_events_args& a) {
  auto text = read_entries(a.entries);
  if (!text)
    return 2;
  json entries;
  try {
    entries = json::parse(*text);
  } catch (const json::parse_error& e) {
    std::fprintf(stderr, "troupe: put-events: --entries is not JSON: %s\n", e.what());
    return 2;
  }
  const std::string node_name =
      !a.node.empty() ? a.node : cfg.gateway ? cfg.gateway->ingress : cfg.nodes.front().name;
  const auto* node = cfg.find_node(node_name);
  if (!node) {
    std::fprintf(stderr, "troupe: put-events: no node '%s' in %s\n", node_name.c_str(), cfg.file.c_str());
    return 2;
  }
  // The node holds a client to its sources; this side checks nothing more.
  gateway::caller anyone;
  const std::string key = "cli:" + (a.key.empty() ? wire::make_uuid() : a.key);
  auto prepared = gateway::prepare_put(entries, cfg, anyone, key);
  if (!prepared) {
    std::fprintf(stderr, "troupe: put-events: %s\n", prepared.err().message.c_str());
    return 2;
  }
  std::vector<wire::put_result> results;
  if (!prepared->entries.empty()) {
    wire::control_request req;
    req.verb = "put";
    req.entries = prepared->entries;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::mt19937_64 rng{std::random_device{}()};
    for (int attempt = 0;; ++attempt) {
      auto c = connect(cfg, *node, cluster::producer);
      if (!c) {
        std::fprintf(stderr, "troupe: put-events: %s\n", c.err().message.c_str());
        return 2;
      }
      auto rep = (*c)->call(req, std::chrono::seconds(5));
      if (rep && rep->ok) {
        results = std::move(rep->results);
        break;
      }
      if (rep) {
        std::fprintf(stderr, "troupe: put-events: node %s refused: %s\n", node->name.c_str(), rep->body.c_str());
        return 1;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::fprintf(stderr, "troupe: put-events: node %s (%s) did not answer: %s\n", node->name.c_str(),
                     node->control.c_str(), rep.err().message.c_str());
        return 1;
      }
      std::this_thread::sleep_for(cluster::full_jitter(std::chrono::milliseconds(100), std::chrono::seconds(2),
                                                       attempt, rng));
    }
  }
  const auto out = gateway::put_response(*prepared, results);
  if (a.format == "json") {
    std::printf("%s\n", out.dump(4).c_str());
  } else {
    for (const auto& e : out["Entries"])
      if (e.contains("EventId"))
        std::printf("%s\n", e["EventId"].get<std::string>().c_str());
      else
        std::printf("FAILED %s: %s\n", e["ErrorCode"].get<std::string>().c_str(),
                    e["ErrorMessage"].get<std::string>().c_str());
  }
  return out["FailedEntryCount"].get<int>() == 0 ? 0 : 1;
}

struct list_rules_args {
  std::string prefix, bus, format = "json";
};

int list_rules(const cluster::config& cfg, const list_rules_args& a) {
  const cluster::gateway_spec none;
  const auto& g = cfg.gateway ? *cfg.gateway : none;
  if (!a.bus.empty() && !gateway::is_cluster_bus(cfg, g, a.bus)) {
    std::fprintf(stderr, "troupe: list-rules: event bus %s does not exist (this cluster's bus is %s)\n",
                 a.bus.c_str(), cfg.cluster.c_str());
    return 1;
  }
  std::vector<const cluster::rule_spec*> sorted;
  for (const auto& r : cfg.rules)
    if (r.name.rfind(a.prefix, 0) == 0)
      sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->name < y->name; });
  json rules = json::array();
  for (const auto* r : sorted)
    rules.push_back(gateway::rule_json(cfg, g, *r, false));
  if (a.format == "json") {
    std::printf("%s\n", json{{"Rules", rules}}.dump(4).c_str());
    return 0;
  }
  for (const auto* r : sorted)
    std::printf("%-28s -> %-14s %s\n", r->name.c_str(), r->target.c_str(), r->pattern_json.c_str());
  return 0;
}

}  // namespace

std::vector<command> events_commands(CLI::App& app) {
  std::vector<command> out;

  auto gw_config = std::make_shared<std::string>();
  auto gw_opts = std::make_shared<gateway::server_options>();
  auto* gw = app.add_subcommand("gateway", "Serve EventBridge's API (PutEvents, TestEventPattern, ListRules, ...) "
                                           "over HTTP, for the AWS CLI and SDKs");
  add_config(gw, *gw_config);
  example(gw, "troupe gateway configs/flight.yaml --listen 127.0.0.1:8088");
  gw->add_option("--listen", gw_opts->listen, "ADDRESS:PORT to listen on (default: the config's gateway.listen)");
  gw->add_option("--threads", gw_opts->threads, "HTTP worker threads; each open connection holds one")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  gw->add_option("--max-connection-age", gw_opts->max_connection_age,
                 "Seconds a connection may stay open before the gateway closes it (after any answer under way), "
                 "so that a client that never finishes a request cannot hold a thread")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  auto gw_log_format = std::make_shared<std::string>("text");
  add_log_format(gw, *gw_log_format);
  out.push_back({gw, gw_config, [gw_opts, gw_log_format](const cluster::config& cfg) {
                   gw_opts->log_format = *log::parse_format(*gw_log_format);
                   return gateway::serve(cfg, *gw_opts);
                 }});

  auto pe_config = std::make_shared<std::string>();
  auto pe = std::make_shared<put_events_args>();
  auto* put = app.add_subcommand("put-events", "Put events into the cluster, as `aws events put-events` does");
  add_config(put, *pe_config);
  example(put, "troupe put-events configs/flight.yaml --entries file://entries.json");
  put->add_option("--entries", pe->entries,
                  "PutEvents entries: a JSON list of {Source, DetailType, Detail, Resources, Time, EventBusName}, or "
                  "file://PATH")
      ->required();
  put->add_option("--node", pe->node, "Node to put on (default: the gateway's ingress node, else the first node)");
  put->add_option("--idempotency-key", pe->key,
                  "Key of this call: the same key and entries again put nothing new (default: a fresh one, kept "
                  "across this command's own retries)");
  add_format(put, pe->format);
  out.push_back({put, pe_config, [pe](const cluster::config& cfg) { return put_events(cfg, *pe); }});

  auto lr_config = std::make_shared<std::string>();
  auto lr = std::make_shared<list_rules_args>();
  auto* list = app.add_subcommand("list-rules", "List the config's rules, as `aws events list-rules` does");
  add_config(list, *lr_config);
  example(list, "troupe list-rules configs/flight.yaml --name-prefix booking");
  list->add_option("--name-prefix", lr->prefix, "Only rules whose name starts so");
  list->add_option("--event-bus-name", lr->bus, "The bus (the cluster's name, 'default' or its ARN)");
  add_format(list, lr->format);
  out.push_back({list, lr_config, [lr](const cluster::config& cfg) { return list_rules(cfg, *lr); }});
  return out;
}

}  // namespace troupe::cli
