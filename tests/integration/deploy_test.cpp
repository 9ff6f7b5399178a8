// `troupe deploy` as a user runs it: the files it writes for systemd and
// Kubernetes, read back and checked against the config, the units checked
// by systemd itself, and what it refuses without writing anything.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "tests/integration/cluster.hpp"

namespace troupe::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

/// Every file under `dir`, by path relative to it.
std::set<std::string> files_under(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::exists(dir))
    return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      out.insert(e.path().lexically_relative(dir).string());
  return out;
}

/// A unit file's settings as "Section.Key" -> values, in order.
std::map<std::string, std::vector<std::string>> unit_settings(const std::string& text) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == ';')
      continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const auto eq = line.find('=');
    if (eq != std::string::npos)
      out[section + "." + line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return out;
}

std::string one(const std::map<std::string, std::vector<std::string>>& s, const std::string& key) {
  const auto it = s.find(key);
  if (it == s.end() || it->second.size() != 1)
    return "<" + key + " " + (it == s.end() ? "missing" : "set " + std::to_string(it->second.size()) + " times") + ">";
  return it->second.front();
}

/// The shipped three-host config in <dir>/configs with its keys made, and
/// `data-dir` (and `supervision`, when given) replaced.
fs::path three_hosts(const fs::path& dir, const std::string& data_dir, const std::string& supervision = "") {
  auto text = read_text(source_file("configs/three-hosts.yaml"));
  text = std::regex_replace(text, std::regex("\ndata-dir: [^\n]*"), "\ndata-dir: " + data_dir);
  if (!supervision.empty())
    text = std::regex_replace(text, std::regex("\nsupervision: [^\n]*"), "\nsupervision: " + supervision);
  const auto file = dir / "configs" / "three-hosts.yaml";
  write_text(file, text);
  auto made = run_command({troupe_bin(), "keygen", "--config", file.string()}, 10s);
  EXPECT_EQ(made.code, 0) << made.output;
  return file;
}

/// The 1-based number of the first line of `file` that starts with `start`.
std::string line_of(const fs::path& file, const std::string& start) {
  std::istringstream in(read_text(file));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.rfind(start, 0) == 0)
      return std::to_string(n);
  return "<no line starts with " + start + ">";
}

/// systemd-analyze from $PATH; empty when there is none.
std::string systemd_analyze() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((fs::path(dir) / "systemd-analyze").c_str(), X_OK) == 0)
      return (fs::path(dir) / "systemd-analyze").string();
  return "";
}

run_result systemd_analyze_verify(const fs::path& unit) {
  return run_command({systemd_analyze(), "verify", "--man=no", unit.string()}, 60s);
}

const std::map<std::string, std::vector<std::string>> three_hosts_nodes = {
    {"alpha", {"booking", "dlq"}}, {"beta", {"payment", "seat"}}, {"gamma", {"ticket", "notification"}}};

TEST(deploy, systemd_writes_a_template_unit_and_a_file_per_node_of_the_host) {
  temp_dir tmp;
  const auto config = three_hosts(tmp.path(), "/var/lib/troupe/flight",
                                  "{max-restarts: 3, within: 20, backoff-base: 0.25, backoff-cap: 4}");
  const auto troupe = fs::canonical(troupe_bin()).string();
  for (const auto& [host, nodes] : three_hosts_nodes) {
    SCOPED_TRACE("host " + host);
    const auto out = tmp.path() / ("systemd-" + host);
    auto r = run_command({troupe_bin(), "deploy", "systemd", config.string(), "--host", host, "--out", out.string()},
                         10s);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("systemctl enable --now troupe-node@" + nodes[0] + " troupe-node@" + nodes[1]),
              std::string::npos)
        << r.output;

    // The unit, the README, and per node of this host its environment file
    // and the drop-in handing it its key: nothing for another host's.
    std::set<std::string> expected = {"troupe-node@.service", "README.md"};
    for (const auto& n : nodes) {
      expected.insert(n + ".env");
      expected.insert("troupe-node@" + n + ".service.d/secret-key.conf");
    }
    EXPECT_EQ(files_under(out), expected);

    const auto unit = unit_settings(read_text(out / "troupe-node@.service"));
    const std::vector<std::pair<std::string, std::string>> settings = {
        {"Service.Type", "notify"},
        {"Service.ExecStart", troupe + " node /etc/troupe/three-hosts.yaml --node %i"},
        {"Service.EnvironmentFile", "/etc/troupe/%i.env"},
        {"Service.Restart", "on-failure"},
        // The config's supervision: 3 restarts within 20 s, the first start counted too.
        {"Unit.StartLimitBurst", "4"},
        {"Unit.StartLimitIntervalSec", "20s"},
        {"Service.RestartSec", "250ms"},
        {"Service.WatchdogSec", "30s"},
        // Each line's level as its journal priority.
        {"Service.StandardOutput", "journal"},
        {"Service.SyslogLevelPrefix", "yes"},
        {"Service.TimeoutStopSec", "10s"},
        {"Service.DynamicUser", "yes"},
        // /var/lib/<StateDirectory> with %i = the node's name is its data directory.
        {"Service.StateDirectory", "troupe/flight/%i"},
        {"Service.ProtectSystem", "strict"},
        {"Service.NoNewPrivileges", "yes"},
        {"Service.RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"},
    };
    for (const auto& [key, value] : settings)
      EXPECT_EQ(one(unit, key), value);

    for (const auto& n : nodes) {
      EXPECT_EQ(unit_settings(read_text(out / (n + ".env"))).at(".TROUPE_NODE"), std::vector<std::string>{n});
      const auto key = unit_settings(read_text(out / ("troupe-node@" + n + ".service.d/secret-key.conf")));
      // The key's path as the installed config names it: ../data/keys/... from /etc/troupe.
      EXPECT_EQ(one(key, "Service.LoadCredential"), n + ".key:/etc/data/keys/three-hosts/" + n + ".key");
      EXPECT_EQ(one(key, "Service.Environment"), "TROUPE_SECRET_KEY_FILE=%d/" + n + ".key");
    }
    const auto readme = read_text(out / "README.md");
    EXPECT_NE(readme.find("install -D -m 0600 " + (tmp.path() / "data/keys/three-hosts" / (nodes[0] + ".key")).string()
                          + " /etc/data/keys/three-hosts/" + nodes[0] + ".key"),
              std::string::npos)
        << readme;
    EXPECT_EQ(readme.find("/" + three_hosts_nodes.at(host == "alpha" ? "beta" : "alpha")[0] + ".key"), std::string::npos)
        << "another host's secret key is installed here:\n" << readme;
  }
}

TEST(deploy, systemd_analyze_verifies_the_units_of_every_node) {
  if (systemd_analyze().empty())
    GTEST_SKIP() << "systemd-analyze is not installed (Debian: systemd)";
  temp_dir tmp;
  const auto config = three_hosts(tmp.path(), "/var/lib/troupe/flight");
  for (const auto& [host, nodes] : three_hosts_nodes) {
    const auto out = tmp.path() / host;
    auto r = run_command({troupe_bin(), "deploy", "systemd", config.string(), "--host", host, "--out", out.string()},
                         10s);
    ASSERT_EQ(r.code, 0) << r.output;
    for (const auto& n : nodes) {
      SCOPED_TRACE("node " + n);
      // The template as systemd instantiates it, with its drop-in beside it.
      const auto unit = out / ("troupe-node@" + n + ".service");
      fs::copy_file(out / "troupe-node@.service", unit);
      auto v = systemd_analyze_verify(unit);
      EXPECT_EQ(v.code, 0) << v.output;
      // systemd says what it ignores (an unknown key, a bad value) and
      // still exits 0: the output must be empty.
      EXPECT_EQ(v.output, "");
      // The same check sees a setting systemd does not know.
      std::ofstream(out / ("troupe-node@" + n + ".service.d/secret-key.conf"), std::ios::app) << "NoSuchSetting=1\n";
      auto bad = systemd_analyze_verify(unit);
      EXPECT_NE(bad.output.find("NoSuchSetting"), std::string::npos) << bad.output;
    }
  }
}

TEST(deploy, systemd_refuses_what_it_cannot_run_and_writes_nothing) {
  temp_dir tmp;
  const auto config = three_hosts(tmp.path(), "/var/lib/troupe/flight");
  const auto shipped = three_hosts(tmp.path() / "shipped", "../data/three-hosts");
  auto spare_text = read_text(config);
  spare_text = std::regex_replace(spare_text, std::regex("\n  gamma: \\{address: 198.18.0.3\\}"),
                                  "\n  gamma: {address: 198.18.0.3}\n  spare: {address: 198.18.0.4}");
  const auto spare = tmp.path() / "configs" / "spare.yaml";
  write_text(spare, spare_text);
  const auto bad = tmp.path() / "configs" / "bad.yaml";
  write_text(bad, std::regex_replace(read_text(config), std::regex("ports: \\{pub: 7101"), "ports: {pub: 99999"));
  struct refusal {
    std::string name;
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<refusal> cases = {
      {"an unknown host", {config.string(), "--host", "delta"}, "no host 'delta'; its nodes are on alpha, beta, gamma"},
      {"a host with no nodes", {spare.string(), "--host", "spare"}, "no node is on host 'spare'"},
      {"a data-dir outside /var/lib",
       {shipped.string(), "--host", "alpha"},
       "three-hosts.yaml:" + line_of(shipped, "data-dir:")
           + ":11: data-dir '../data/three-hosts' is /etc/data/three-hosts where the config is installed "
             "(/etc/troupe/three-hosts.yaml); a node under systemd keeps its data in its StateDirectory, under /var/lib"},
      {"a relative troupe", {config.string(), "--host", "alpha", "--troupe", "bin/troupe"},
       "--troupe 'bin/troupe': systemd needs an absolute path"},
      {"a path systemd would split", {config.string(), "--host", "alpha", "--config-path", "/etc/my troupe/x.yaml"},
       "must have no white space"},
      {"a bad config", {bad.string(), "--host", "alpha"}, "bad.yaml:" + line_of(bad, "    ports: {pub: 99999") + ":"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto out = tmp.path() / "out";
    std::vector<std::string> argv{troupe_bin(), "deploy", "systemd"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    argv.insert(argv.end(), {"--out", out.string()});
    auto r = run_command(argv, 10s);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out)) << "written despite the refusal";
  }
}

TEST(deploy, an_output_folder_with_other_files_is_refused_and_its_own_files_are_rewritten) {
  temp_dir tmp;
  const auto config = three_hosts(tmp.path(), "/var/lib/troupe/flight");
  const auto out = tmp.path() / "out";
  const std::vector<std::string> argv{troupe_bin(), "deploy", "systemd", config.string(), "--host", "alpha",
                                      "--out", out.string()};
  ASSERT_EQ(run_command(argv, 10s).code, 0);
  // Its own files, changed by hand: written again.
  write_text(out / "booking.env", "TROUPE_NODE=somebody-else\n");
  auto again = run_command(argv, 10s);
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(read_text(out / "booking.env").find("somebody-else"), std::string::npos);
  // Another file, such as a unit left by a run for another host: refused.
  write_text(out / "payment.env", "TROUPE_NODE=payment\n");
  write_text(out / "booking.env", "TROUPE_NODE=somebody-else\n");
  auto refused = run_command(argv, 10s);
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("holds files this command does not write (payment.env)"), std::string::npos)
      << refused.output;
  EXPECT_NE(read_text(out / "booking.env").find("somebody-else"), std::string::npos) << "written despite the refusal";
}

/// The three-host cluster as Kubernetes runs it: a host per node, named by
/// its Service, the same ports on every pod.
std::string kubernetes_config(const std::string& ns) {
  const auto shipped = read_text(source_file("configs/three-hosts.yaml"));  // its services and rules
  std::string hosts, nodes;
  for (const auto& [host, names] : three_hosts_nodes)
    for (const auto& n : names) {
      hosts += "  " + n + ": {address: flight-" + n + "." + ns + ".svc.cluster.local}\n";
      nodes += "  " + n + ":\n    host: " + n + "\n    ports: {pub: 7101, control: 7102}\n    services: [" + n
               + "]\n    public-key-file: ../keys/" + n + ".pub\n    secret-key-file: ../keys/" + n + ".key\n";
    }
  return "# a comment, kept in the ConfigMap\ncluster: flight\ndata-dir: /var/lib/troupe/flight\nhosts:\n" + hosts
         + "nodes:\n" + nodes
         + "clients:\n  ops:\n    public-key-file: ../keys/ops.pub\n    secret-key-file: ../keys/ops.key\n"
           "    roles: [reader, operator]\n"
         + shipped.substr(shipped.find("\nservices:") + 1);
}

const YAML::Node* find_by(const std::vector<YAML::Node>& seq, const std::string& field, const std::string& value) {
  for (const auto& n : seq)
    if (n[field] && n[field].as<std::string>() == value)
      return &n;
  return nullptr;
}

std::vector<YAML::Node> seq_of(const YAML::Node& n) {
  std::vector<YAML::Node> out;
  for (const auto& e : n)
    out.push_back(e);
  return out;
}

TEST(deploy, kubernetes_writes_a_config_map_and_a_stateful_set_and_service_per_node) {
  temp_dir tmp;
  const auto config = tmp.path() / "configs" / "flight-k8s.yaml";
  write_text(config, kubernetes_config("troupe"));
  auto made = run_command({troupe_bin(), "keygen", "--config", config.string()}, 10s);
  ASSERT_EQ(made.code, 0) << made.output;
  const auto out = tmp.path() / "k8s";
  auto r = run_command({troupe_bin(), "deploy", "kubernetes", config.string(), "--out", out.string(), "--namespace",
                        "troupe", "--image", "registry.example/troupe:1.2"},
                       10s);
  ASSERT_EQ(r.code, 0) << r.output;

  std::set<std::string> expected = {"configmap.yaml", "README.md"};
  for (const auto& [host, names] : three_hosts_nodes)
    for (const auto& n : names)
      expected.insert(n + ".yaml");
  EXPECT_EQ(files_under(out), expected);

  const auto cms = YAML::LoadAllFromFile((out / "configmap.yaml").string());
  ASSERT_EQ(cms.size(), 1u);
  const auto& cm = cms[0];
  EXPECT_EQ(cm["kind"].as<std::string>(), "ConfigMap");
  EXPECT_EQ(cm["metadata"]["name"].as<std::string>(), "troupe-flight-config");
  EXPECT_EQ(cm["metadata"]["namespace"].as<std::string>(), "troupe");
  EXPECT_EQ(cm["data"]["flight-k8s.yaml"].as<std::string>(), read_text(config));
  EXPECT_EQ(cm["data"]["client.ops.pub"].as<std::string>(), read_text(tmp.path() / "keys" / "ops.pub"));

  const auto readme = read_text(out / "README.md");
  for (const auto& [host, names] : three_hosts_nodes)
    for (const auto& n : names) {
      SCOPED_TRACE("node " + n);
      EXPECT_EQ(cm["data"]["node." + n + ".pub"].as<std::string>(), read_text(tmp.path() / "keys" / (n + ".pub")));
      EXPECT_NE(readme.find("kubectl -n troupe create secret generic troupe-flight-" + n + "-key --from-file=secret-key="
                            + (tmp.path() / "keys" / (n + ".key")).string() + "\n"),
                std::string::npos)
          << readme;

      const auto docs = YAML::LoadAllFromFile((out / (n + ".yaml")).string());
      ASSERT_EQ(docs.size(), 2u);
      const auto& svc = docs[0];
      const auto& sts = docs[1];
      const auto name = "flight-" + n;
      EXPECT_EQ(svc["kind"].as<std::string>(), "Service");
      EXPECT_EQ(svc["metadata"]["name"].as<std::string>(), name);
      EXPECT_EQ(svc["spec"]["clusterIP"].as<std::string>(), "None");
      EXPECT_TRUE(svc["spec"]["publishNotReadyAddresses"].as<bool>());
      const auto svc_ports = seq_of(svc["spec"]["ports"]);
      ASSERT_NE(find_by(svc_ports, "name", "pub"), nullptr);
      EXPECT_EQ((*find_by(svc_ports, "name", "pub"))["port"].as<int>(), 7101);
      EXPECT_EQ((*find_by(svc_ports, "name", "control"))["port"].as<int>(), 7102);

      EXPECT_EQ(sts["kind"].as<std::string>(), "StatefulSet");
      EXPECT_EQ(sts["metadata"]["name"].as<std::string>(), name);
      EXPECT_EQ(sts["spec"]["serviceName"].as<std::string>(), name);
      EXPECT_EQ(sts["spec"]["replicas"].as<int>(), 1);
      // The Service selects this node's pods, and only them.
      for (const auto& l : svc["spec"]["selector"])
        EXPECT_EQ(sts["spec"]["template"]["metadata"]["labels"][l.first.as<std::string>()].as<std::string>(),
                  l.second.as<std::string>());
      EXPECT_EQ(svc["spec"]["selector"]["app.kubernetes.io/component"].as<std::string>(), n);
      const auto pod = sts["spec"]["template"]["spec"];
      EXPECT_TRUE(pod["securityContext"]["runAsNonRoot"].as<bool>());
      const auto& c = pod["containers"][0];
      EXPECT_EQ(c["image"].as<std::string>(), "registry.example/troupe:1.2");
      EXPECT_EQ(c["command"].as<std::vector<std::string>>(),
                (std::vector<std::string>{"troupe", "node", "/etc/troupe/flight-k8s.yaml", "--node", n}));
      EXPECT_EQ(c["readinessProbe"]["exec"]["command"].as<std::vector<std::string>>(),
                (std::vector<std::string>{"troupe", "probe", "/etc/troupe/flight-k8s.yaml", "--node", n}));
      const auto env = seq_of(c["env"]);
      ASSERT_NE(find_by(env, "name", "TROUPE_NODE"), nullptr);
      EXPECT_EQ((*find_by(env, "name", "TROUPE_NODE"))["value"].as<std::string>(), n);
      ASSERT_NE(find_by(env, "name", "TROUPE_SECRET_KEY"), nullptr);
      const auto ref = (*find_by(env, "name", "TROUPE_SECRET_KEY"))["valueFrom"]["secretKeyRef"];
      EXPECT_EQ(ref["name"].as<std::string>(), "troupe-flight-" + n + "-key");
      EXPECT_EQ(ref["key"].as<std::string>(), "secret-key");
      const auto ports = seq_of(c["ports"]);
      ASSERT_NE(find_by(ports, "name", "pub"), nullptr);
      EXPECT_EQ((*find_by(ports, "name", "pub"))["containerPort"].as<int>(), 7101);
      EXPECT_EQ((*find_by(ports, "name", "control"))["containerPort"].as<int>(), 7102);
      EXPECT_FALSE(c["securityContext"]["allowPrivilegeEscalation"].as<bool>());
      EXPECT_TRUE(c["securityContext"]["readOnlyRootFilesystem"].as<bool>());
      EXPECT_EQ(c["securityContext"]["capabilities"]["drop"].as<std::vector<std::string>>(),
                std::vector<std::string>{"ALL"});

      // The data volume at the node's data directory; the config and every
      // public key where the config, at /etc/troupe, looks for them.
      const auto mounts = seq_of(c["volumeMounts"]);
      ASSERT_NE(find_by(mounts, "name", "data"), nullptr);
      EXPECT_EQ((*find_by(mounts, "name", "data"))["mountPath"].as<std::string>(), "/var/lib/troupe/flight/" + n);
      EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"].as<std::string>(), "data");
      std::map<std::string, std::string> config_files;  // path in the pod -> ConfigMap key
      for (const auto& m : mounts)
        if (m["name"].as<std::string>() == "config")
          config_files[m["mountPath"].as<std::string>()] = m["subPath"].as<std::string>();
      EXPECT_EQ(config_files["/etc/troupe/flight-k8s.yaml"], "flight-k8s.yaml");
      EXPECT_EQ(config_files["/etc/keys/" + n + ".pub"], "node." + n + ".pub");
      EXPECT_EQ(config_files["/etc/keys/ops.pub"], "client.ops.pub");
      EXPECT_EQ(config_files.size(), 8u);  // the config, 6 nodes' and 1 client's public keys
      for (const auto& [path, key] : config_files)
        EXPECT_TRUE(cm["data"][key]) << key << " is mounted but not in the ConfigMap";
      EXPECT_EQ(pod["volumes"][0]["configMap"]["name"].as<std::string>(), "troupe-flight-config");
    }
}

TEST(deploy, kubernetes_refuses_hosts_that_are_not_the_services_and_says_which_to_write) {
  temp_dir tmp;
  const auto config = three_hosts(tmp.path(), "/var/lib/troupe/flight");
  const auto out = tmp.path() / "k8s";
  const std::vector<std::string> argv{troupe_bin(), "deploy", "kubernetes", config.string(), "--out", out.string(),
                                      "--namespace", "air"};
  auto r = run_command(argv, 10s);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_NE(r.output.find("three-hosts.yaml:" + line_of(config, "  alpha:")
                          + ":20: hosts.alpha: nodes booking, dlq share this host"),
            std::string::npos)
      << r.output;
  const auto hint = r.output.find("# the hosts: section");
  ASSERT_NE(hint, std::string::npos) << r.output;

  // The section it prints, written into the config, is one it takes.
  const auto said = YAML::Load(r.output.substr(hint));
  auto text = read_text(config);
  std::string hosts = "\nhosts:\n";
  for (const auto& h : said["hosts"])
    hosts += "  " + h.first.as<std::string>() + ": {address: " + h.second["address"].as<std::string>() + "}\n";
  text = std::regex_replace(text, std::regex("\nhosts:\n(  [^\n]*\n)+"), hosts);
  for (const auto& n : said["nodes"]) {
    const auto name = n.first.as<std::string>();
    text = std::regex_replace(
        text, std::regex("\n  " + name + ":\n    host: [^\n]*\n    ports: [^\n]*\n"),
        "\n  " + name + ":\n    host: " + n.second["host"].as<std::string>() + "\n    ports: {pub: "
            + n.second["ports"]["pub"].as<std::string>() + ", control: " + n.second["ports"]["control"].as<std::string>()
            + "}\n");
  }
  write_text(config, text);
  auto fixed = run_command(argv, 10s);
  EXPECT_EQ(fixed.code, 0) << fixed.output;
  EXPECT_EQ(said["hosts"]["seat"]["address"].as<std::string>(), "flight-seat.air.svc.cluster.local");
}

} // namespace
} // namespace troupe::test
