// troupe: the command line. Every subcommand validates its config before
// doing anything, and no error ever reaches the user as a stack trace.
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "actors/node.hpp"
#include "actors/runtime/ready_marker.hpp"
#include "launcher/common.hpp"
#include "launcher/dashboard.hpp"
#include "launcher/deploy.hpp"
#include "launcher/dlq.hpp"
#include "launcher/events_cli.hpp"
#include "launcher/application.hpp"
#include "launcher/cli_completion.hpp"
#include "launcher/cli_conventions.hpp"
#include "launcher/cli_help.hpp"
#include "launcher/keys.hpp"
#include "launcher/launch.hpp"
#include "launcher/trace.hpp"
#include "rules/matcher.hpp"

#ifndef TROUPE_VERSION
#define TROUPE_VERSION "unknown"  // meson.build passes the project's
#endif

namespace {

std::string self_exe(const char* argv0) {
  char buf[PATH_MAX];
  const auto n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0)
    return std::string(buf, static_cast<std::size_t>(n));
  return argv0;
}

int status_cmd(const troupe::cluster::config& cfg, bool json) {
  int rc = 0;
  for (const auto& n : cfg.nodes) {
    auto s = troupe::cli::status(cfg, n, std::chrono::seconds(2));
    if (!s && s.err().code == troupe::cli::errc::no_key) {
      // This side's problem, the same for every node: said once.
      std::fprintf(stderr, "troupe: %s\n", s.err().message.c_str());
      return 2;
    }
    if (!s) {
      rc = 1;
      if (json)
        std::printf("%s\n", nlohmann::json{{"node", n.name}, {"error", s.err().message}}.dump().c_str());
      else  // a node that answered with a refusal is up, but says nothing more
        std::printf("%-14s %-5s %s\n", n.name.c_str(), s.err().code == troupe::cli::errc::refused ? "?" : "DOWN",
                    s.err().message.c_str());
      continue;
    }
    if (json) {
      std::printf("%s\n", s->dump().c_str());
      continue;
    }
    const auto& w = (*s)["wire"];
    const auto& b = (*s)["bus"];
    std::printf("%-14s UP    peers %zu/%zu  received %llu  published %llu  malformed %llu  matched %llu  "
                "forged %llu  refused %llu\n",
                n.name.c_str(), w.value("peers_connected", std::size_t{0}), cfg.nodes.size() - 1,
                w.value("received", 0ULL), w.value("published", 0ULL), w.value("malformed", 0ULL),
                b.value("matched", 0ULL), b.value("forged", 0ULL),
                b.value("access_refused", 0ULL) + w.value("refused", 0ULL));
    for (const auto& [svc, c] : (*s)["services"].items())
      if (c.is_object())
        std::printf("  %-12s %-10s delivered %llu  ok %llu  transient %llu  permanent %llu  crashed %llu  "
                    "timeouts %llu  restarts %llu\n",
                    svc.c_str(), c.value("state", "").c_str(), c.value("delivered", 0ULL), c.value("ok", 0ULL),
                    c.value("transient", 0ULL), c.value("permanent", 0ULL), c.value("crashed", 0ULL),
                    c.value("timeouts", 0ULL), c.value("restarts", 0ULL));
    // Per rule and target, with EventBridge's metric names.
    for (const auto& m : (*s).value("metrics", nlohmann::json::array())) {
      const auto latency = m.value("IngestiontoInvocationStartLatency", nlohmann::json::object());
      std::printf("  rule %s -> %s: MatchedEvents %llu  Invocations %llu  InvocationAttempts %llu  "
                  "SuccessfulInvocationAttempts %llu  RetryInvocationAttempts %llu  FailedInvocations %llu  "
                  "InvocationsSentToDlq %llu  InvocationsFailedToBeSentToDlq %llu  "
                  "IngestiontoInvocationStartLatency avg %.1f ms, max %lld ms\n",
                  m.value("rule", "").c_str(), m.value("target", "").c_str(), m.value("MatchedEvents", 0ULL),
                  m.value("Invocations", 0ULL), m.value("InvocationAttempts", 0ULL),
                  m.value("SuccessfulInvocationAttempts", 0ULL), m.value("RetryInvocationAttempts", 0ULL),
                  m.value("FailedInvocations", 0ULL), m.value("InvocationsSentToDlq", 0ULL),
                  m.value("InvocationsFailedToBeSentToDlq", 0ULL), latency.value("average_ms", 0.0),
                  latency.value("maximum_ms", 0LL));
    }
  }
  return rc;
}

/// `troupe probe`: whether a node on this machine is ready, from its ready
/// marker. Exit 0 when it is, 1 when not, 2 for a node the config lacks.
int probe_cmd(const troupe::cluster::config& cfg, const std::string& name) {
  const auto* spec = cfg.find_node(name);
  if (!spec) {
    std::fprintf(stderr, "troupe: no node '%s' in %s\n", name.c_str(), cfg.file.c_str());
    return 2;
  }
  auto pid = troupe::runtime::ready_process(spec->data_dir);
  if (!pid) {
    std::fprintf(stderr, "troupe: node %s is not ready: %s\n", name.c_str(), pid.err().message.c_str());
    return 1;
  }
  std::printf("node %s is ready (pid %d)\n", name.c_str(), *pid);
  return 0;
}

/// `troupe deploy systemd` and `troupe deploy kubernetes`, filling
/// `config`, `out` and the options.
struct deploy_commands {
  CLI::App* systemd;
  CLI::App* kubernetes;
  std::string out, troupe, config_path;
  troupe::cli::systemd_options systemd_opts;
  troupe::cli::kubernetes_options kubernetes_opts;
};

void add_deploy_commands(CLI::App& app, std::string& config, deploy_commands& d) {
  auto* deploy = app.add_subcommand("deploy", "Write the files for systemd or Kubernetes to run the nodes");
  deploy->require_subcommand(1);
  d.systemd = deploy->add_subcommand(
      "systemd", "A troupe-node@.service unit and a file per node of one host, with a README to install them");
  d.kubernetes = deploy->add_subcommand(
      "kubernetes", "A ConfigMap, and a StatefulSet and headless Service per node, with a README to apply them");
  for (auto* sub : {d.systemd, d.kubernetes}) {
    troupe::cli::add_config(sub, config);
    sub->add_option("--out", d.out, "Folder to write into (files of its own there are refused)")
        ->required()
        ->type_name("DIR");
  }
  d.systemd->add_option("--host", d.systemd_opts.host, "The host of the config whose nodes to run")->required();
  d.systemd->add_option("--troupe", d.troupe, "Absolute path of troupe on that host (default: this executable)");
  d.systemd->add_option("--config-path", d.config_path,
                        "Absolute path of the config on that host (default: /etc/troupe/<its file name>)");
  auto& k = d.kubernetes_opts;
  d.kubernetes->add_option("--image", k.image, "Container image with troupe on its PATH")->capture_default_str();
  d.kubernetes->add_option("--namespace", k.ns, "Namespace of every object")->capture_default_str();
  d.kubernetes->add_option("--cluster-domain", k.cluster_domain, "The Kubernetes cluster's DNS domain")
      ->capture_default_str();
  d.kubernetes->add_option("--storage", k.storage, "Size of each node's volume claim")->capture_default_str();
  troupe::cli::example(deploy, "troupe deploy systemd configs/prod.yaml --host alpha --out deploy/alpha");
  troupe::cli::example(d.systemd, "troupe deploy systemd configs/prod.yaml --host alpha --out deploy/alpha");
  troupe::cli::example(d.kubernetes, "troupe deploy kubernetes configs/k8s.yaml --out deploy/k8s --namespace air");
}

/// `troupe dlq` and its list, show, redrive and purge, filling `config`,
/// `format` and `dq`.
struct dlq_commands {
  CLI::App* group;
  CLI::App* list;
  CLI::App* show;
  CLI::App* redrive;
};

dlq_commands add_dlq_commands(CLI::App& app, std::string& config, std::string& format, troupe::cli::dlq_options& dq) {
  auto* dlq = app.add_subcommand("dlq", "Operate a dead-letter queue: list, show, redrive, purge");
  dlq->require_subcommand(1);
  const auto dlq_common = [&config, &format, &dq](CLI::App* sub, bool filters) {
    troupe::cli::add_config(sub, config);
    sub->add_option("--dlq", dq.dlq, "The DLQ service")->capture_default_str();
    troupe::cli::add_format(sub, format);
    if (filters) {
      sub->add_option("--rule", dq.rule, "Only dead letters of this rule");
      sub->add_option("--target", dq.target, "Only dead letters of this target");
      sub->add_option("--error-code", dq.error_code, "Only dead letters with this ERROR_CODE");
    }
  };
  auto* dlq_list = dlq->add_subcommand("list", "List the dead letters, oldest first");
  dlq_common(dlq_list, true);
  auto* dlq_show = dlq->add_subcommand("show", "Show dead letters in full, with the original event");
  dlq_common(dlq_show, false);
  dlq_show->add_option("ID", dq.ids, "Dead-letter id")->required();
  auto* dlq_redrive = dlq->add_subcommand(
      "redrive", "Deliver dead letters to their original target again, with a fresh retry budget");
  auto* dlq_purge = dlq->add_subcommand("purge", "Delete dead letters");
  for (auto* sub : {dlq_redrive, dlq_purge}) {
    dlq_common(sub, true);
    auto* ids = sub->add_option("ID", dq.ids, "Dead-letter ids");
    auto* all = sub->add_flag("--all", dq.all, "Every dead letter the filters select");
    ids->excludes(all);
    sub->callback([ids, all] {
      if (ids->count() == 0 && all->count() == 0)
        throw CLI::RequiredError("give dead-letter ids or --all", CLI::ExitCodes::RequiredError);
    });
  }
  troupe::cli::example(dlq, "troupe dlq list configs/flight.yaml --error-code PERMANENT_ERROR");
  troupe::cli::example(dlq_list, "troupe dlq list configs/flight.yaml --rule seat-after-payment --format json");
  troupe::cli::example(dlq_show, "troupe dlq show configs/flight.yaml 0b9c6f9e-8c1d-4c8e-9d6e-2f1a3b4c5d6e");
  troupe::cli::example(dlq_redrive, "troupe dlq redrive configs/flight.yaml --all --target seat");
  troupe::cli::example(dlq_purge, "troupe dlq purge configs/flight.yaml --all --error-code PERMANENT_ERROR");
  return {dlq, dlq_list, dlq_show, dlq_redrive};
}

int run(int argc, char** argv) {
  CLI::App app{"troupe: a brokerless runtime for event-driven choreography"};
  troupe::cli::set_up_program(app, TROUPE_VERSION);
  std::string client;
  app.add_option("--client", client,
                 "In a keyed cluster, the client of the config to speak as (default: $TROUPE_CLIENT, else the first "
                 "with the role the command needs whose secret key this user can read)");
  troupe::cli::example(&app, "troupe launch configs/flight.yaml");
  troupe::cli::example(&app, "troupe status configs/flight.yaml");
  troupe::cli::help_request help_request;
  auto* help = troupe::cli::add_help_command(app, help_request);

  std::string config;
  std::string node_name;
  std::string log_format = "text";
  auto* node = app.add_subcommand(
      "node", "Run one node of a cluster in the foreground (for systemd, Kubernetes or another engine to start)");
  troupe::cli::add_config(node, config);
  node->add_option("--node", node_name, "Name of the node to run (default: $TROUPE_NODE)")->envname("TROUPE_NODE");
  troupe::cli::add_log_format(node, log_format);
  troupe::cli::example(node, "TROUPE_NODE=payment troupe node /etc/troupe/flight.yaml");
  troupe::cli::example(node, "troupe node configs/flight.yaml --node payment --log-format json");

  std::string launch_host;
  auto* launch = app.add_subcommand("launch", "Start and supervise the nodes of a cluster, or of one host, on this machine");
  troupe::cli::add_config(launch, config);
  launch->add_option("--host", launch_host, "Only the nodes on this host of the config's hosts");
  troupe::cli::add_log_format(launch, log_format);
  troupe::cli::example(launch, "troupe launch configs/flight.yaml");
  troupe::cli::example(launch, "troupe launch configs/three-hosts.yaml --host alpha");

  auto* probe = app.add_subcommand(
      "probe", "Exit 0 when a node on this machine is ready: its sockets bound, its store open (for Kubernetes)");
  troupe::cli::add_config(probe, config);
  probe->add_option("--node", node_name, "Name of the node")->envname("TROUPE_NODE")->required();
  troupe::cli::example(probe, "troupe probe /etc/troupe/flight.yaml --node payment");

  deploy_commands deploy;
  add_deploy_commands(app, config, deploy);

  auto* check = app.add_subcommand("check", "Validate a cluster config and exit");
  troupe::cli::add_config(check, config);
  troupe::cli::example(check, "troupe check configs/flight.yaml");

  std::string format = "table";
  auto* status = app.add_subcommand("status", "Show every node's counters");
  troupe::cli::add_config(status, config);
  troupe::cli::add_format(status, format);
  troupe::cli::example(status, "troupe status configs/flight.yaml --format json");

  std::string saga_id;
  auto* trace = app.add_subcommand(
      "trace", "Show one saga across every node: its events as a causation tree, with a timeline, each hop's "
               "latency, and every delivery's attempts, retries, errors and dead letters");
  troupe::cli::add_config(trace, config);
  trace->add_option("ID", saga_id, "The saga's correlation id (a booking's id, say)")->required();
  troupe::cli::add_format(trace, format);
  troupe::cli::example(trace, "troupe trace configs/flight.yaml 0193d1c2-7c4e-7b21-9a51-3f2e8c1d0a42");

  std::string stuck_text, since_text = "24h";
  std::size_t sagas_limit = 20;
  auto* sagas = app.add_subcommand(
      "sagas", "List recent sagas, or with --stuck those quiet that long and not ended, with where each waits");
  troupe::cli::add_config(sagas, config);
  sagas->add_option("--stuck", stuck_text,
                    "Only sagas with no event for this long (30s, 5m, 2h) that have not reached a terminal "
                    "detail-type (observability.terminal), or that still have work waiting")
      ->type_name("DURATION");
  sagas->add_option("--since", since_text, "Only sagas with an event within this long")
      ->capture_default_str()
      ->type_name("DURATION");
  sagas->add_option("--limit", sagas_limit, "Without --stuck: the newest this many")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  troupe::cli::add_format(sagas, format);
  troupe::cli::example(sagas, "troupe sagas configs/flight.yaml --stuck 30s");

  troupe::cli::dlq_options dq;
  const auto dlq = add_dlq_commands(app, config, format, dq);

  troupe::cli::dashboard_options dash;
  auto* dashboard = app.add_subcommand(
      "dashboard", "Serve the live page: the saga graph with rates and failures, each node's health, recent and "
                   "stuck sagas with their traces, the dead letters and their redrive");
  troupe::cli::add_config(dashboard, config);
  dashboard->add_option("--listen", dash.listen, "Address and port to serve the page on (a loopback one: the page "
                                                 "shows every event's contents to whoever reaches it)")
      ->capture_default_str()
      ->type_name("ADDR:PORT");
  dashboard->add_option("--operator-key-file", dash.operator_key_file,
                        "A file (mode 0600) whose first line is the key the page must send to redrive dead "
                        "letters; without it the page redrives nothing")
      ->type_name("FILE");
  troupe::cli::example(dashboard, "troupe dashboard configs/flight.yaml --listen 127.0.0.1:8090");

  std::string key_name, key_dir = ".", key_config;
  auto* keygen = app.add_subcommand("keygen", "Make CurveZMQ key pairs: NAME.key (secret, 0600) and NAME.pub");
  auto* key_name_opt = keygen->add_option("NAME", key_name, "Name of the pair (a node or client name)");
  keygen->add_option("--dir", key_dir, "Where to write them")->capture_default_str()->type_name("DIR");
  auto* key_config_opt = keygen->add_option(
      "--config", key_config,
      "Make every pair the config's public-key-file and secret-key-file name, if missing (default: $TROUPE_CONFIG "
      "when no NAME is given)");
  key_config_opt->type_name("FILE");
  key_name_opt->excludes(key_config_opt);
  keygen->callback([key_name_opt, key_config_opt, &key_config] {
    if (key_name_opt->count() > 0 || key_config_opt->count() > 0)
      return;
    // Not envname(): with a NAME given, TROUPE_CONFIG would conflict with it.
    if (const char* env = std::getenv(troupe::cli::config_env); env && *env)
      key_config = env;
    else
      throw CLI::RequiredError("give a NAME or --config FILE (or set TROUPE_CONFIG)", CLI::ExitCodes::RequiredError);
  });
  troupe::cli::example(keygen, "troupe keygen --config configs/flight.yaml");
  troupe::cli::example(keygen, "troupe keygen shop --dir data/keys/flight");

  std::string pattern, event;
  auto* tp = app.add_subcommand("test-pattern", "Test an EventBridge event pattern against an event");
  tp->add_option("--pattern", pattern, "Pattern as JSON, or @FILE or file://FILE")->required();
  tp->add_option("--event", event, "Event as JSON, or @FILE or file://FILE")->required();
  troupe::cli::example(tp, R"(troupe test-pattern --pattern '{"detail-type": ["A"]}' --event '{"detail-type": "A"}')");

  // Each application's own commands.
  std::vector<troupe::cli::command> app_commands = troupe::cli::events_commands(app);
  for (const auto& a : troupe::cli::applications())
    if (a.commands)
      for (auto& c : a.commands(app))
        app_commands.push_back(std::move(c));

  std::string shell;
  auto* completion = troupe::cli::add_completion_command(app, shell);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return troupe::cli::report_parse_error(app, e);
  }

  if (*help)
    return troupe::cli::print_help(app, help_request);
  if (*completion) {
    std::cout << troupe::cli::bash_completion(app);
    return 0;
  }
  troupe::cli::use_client(client);
  if (*tp)
    return troupe::rules::run_test_pattern(pattern, event, std::cout, std::cerr);
  if (*keygen)
    return key_config.empty() ? troupe::cli::keygen(key_name, key_dir) : troupe::cli::keygen_for(key_config);
  for (const auto& c : app_commands)
    if (*c.sub) {
      auto cfg = troupe::cli::load_config(*c.config);
      return cfg ? c.run(*cfg) : 2;
    }

  auto cfg = troupe::cli::load_config(config);
  if (!cfg)
    return 2;
  if (*check) {
    // The secret keys this machine holds: a node refuses to start on a bad one.
    const auto keys = troupe::cli::secret_key_problems(*cfg);
    for (const auto& p : keys)
      std::fprintf(stderr, "troupe: %s\n", p.c_str());
    if (!keys.empty()) {
      std::fprintf(stderr, "troupe: %zu secret key%s here would stop %s from starting\n", keys.size(),
                   keys.size() == 1 ? "" : "s",
                   keys.size() == 1 ? "its node, client or gateway" : "their nodes, clients or gateway");
      return 1;
    }
    const auto own = std::count_if(cfg->rules.begin(), cfg->rules.end(), [](const auto& r) { return !r.internal; });
    // A name that does not resolve here may resolve where the nodes run.
    for (const auto& w : troupe::cluster::unresolved_hosts(cfg->hosts, cfg->file))
      std::fprintf(stderr, "%s\n", w.c_str());
    std::printf("%s: ok (%zu nodes, %zu rules, %s)\n", config.c_str(), cfg->nodes.size(),
                static_cast<std::size_t>(own),
                cfg->secure() ? ("CurveZMQ on every socket, " + std::to_string(cfg->clients.size()) + " clients").c_str()
                              : "OPEN");
    if (auto open = troupe::cluster::open_cluster_warning(*cfg))
      std::fprintf(stderr, "troupe: WARNING: %s\n", open->c_str());
    return 0;
  }
  if (*dlq.group) {
    dq.json = format == "json";
    if (*dlq.list)
      return troupe::cli::dlq_list(*cfg, dq);
    if (*dlq.show)
      return troupe::cli::dlq_show(*cfg, dq);
    return troupe::cli::dlq_move(*cfg, dq, !*dlq.redrive);
  }
  if (*node) {
    if (node_name.empty()) {
      std::string names;
      for (const auto& n : cfg->nodes)
        names += (names.empty() ? "" : ", ") + n.name;
      std::fprintf(stderr, "troupe: node: say which node to run with --node NAME or TROUPE_NODE=NAME (the config's "
                           "nodes: %s)\n", names.c_str());
      return 2;
    }
    return troupe::run_node(*cfg, node_name, troupe::cli::registry(), *troupe::log::parse_format(log_format));
  }
  if (*probe)
    return probe_cmd(*cfg, node_name);
  if (*deploy.systemd) {
    deploy.systemd_opts.troupe = deploy.troupe.empty() ? self_exe(argv[0]) : deploy.troupe;
    deploy.systemd_opts.config = deploy.config_path.empty() ? troupe::cli::default_installed_config(config)
                                                            : std::filesystem::path(deploy.config_path);
    return troupe::cli::deploy_systemd(*cfg, deploy.systemd_opts, deploy.out);
  }
  if (*deploy.kubernetes)
    return troupe::cli::deploy_kubernetes(*cfg, deploy.kubernetes_opts, deploy.out);
  if (*launch)
    return troupe::cli::launch(*cfg,
                               {config, self_exe(argv[0]), launch_host, *troupe::log::parse_format(log_format)});
  if (*status)
    return status_cmd(*cfg, format == "json");
  if (*dashboard)
    return troupe::cli::dashboard(*cfg, dash);
  if (*trace) {
    auto t = troupe::cli::collect_saga(*cfg, saga_id, std::chrono::seconds(5));
    if (format == "json")
      std::printf("%s\n", t.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    else
      std::fputs(troupe::cli::render_saga(t).c_str(), stdout);
    if (!t.value("found", false))
      return 1;
    return t["nodes"]["unreachable"].empty() ? 0 : 1;
  }
  if (*sagas) {
    troupe::cli::sagas_options o;
    o.limit = sagas_limit;
    const auto since = troupe::cli::parse_duration(since_text);
    if (!since) {
      std::fprintf(stderr, "troupe: sagas: --since '%s' is not a duration (30s, 5m, 2h, 1d)\n", since_text.c_str());
      return 2;
    }
    o.since = *since;
    if (!stuck_text.empty()) {
      o.stuck = troupe::cli::parse_duration(stuck_text);
      if (!o.stuck) {
        std::fprintf(stderr, "troupe: sagas: --stuck '%s' is not a duration (30s, 5m, 2h, 1d)\n", stuck_text.c_str());
        return 2;
      }
    }
    auto r = troupe::cli::collect_sagas(*cfg, o, std::chrono::seconds(5));
    if (format == "json")
      std::printf("%s\n", r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    else
      std::fputs(troupe::cli::render_sagas(r).c_str(), stdout);
    return r["nodes"]["unreachable"].empty() ? 0 : 1;
  }
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "troupe: error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "troupe: error: unexpected failure\n");
    return 1;
  }
}
