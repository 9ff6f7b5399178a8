// `troupe deploy kubernetes`: every node a StatefulSet of one replica
// behind a headless Service. The choices, and why:
//
// - Peers dial a node by its host's address, so each node has a host of
//   its own whose address is its Service's DNS name,
//   `<cluster>-<node>.<namespace>.svc.<cluster domain>`; a DNS name binds
//   every address (cluster/hosts.hpp). A config whose addresses are not
//   those names is refused with the `hosts:` section to write: the file
//   the pods read is the one the user keeps, unchanged.
// - publishNotReadyAddresses: a node's name resolves as soon as its pod
//   has an address, so that peers connect while it opens its store.
// - The ConfigMap holds the config as it is and the public key files it
//   names, each mounted where the config, at /etc/troupe/<file>, looks.
// - The secret key comes from a Secret as $TROUPE_SECRET_KEY: a mounted
//   Secret file is readable by the pod's group (fsGroup), and a node
//   refuses a key file others may read.
// - Readiness: `troupe probe` reads the node's ready marker
//   (actors/runtime/ready_marker.hpp). A TCP probe would count as a
//   refused CurveZMQ handshake in the node's counters.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>

#include "launcher/common.hpp"
#include "launcher/deploy.hpp"
#include "launcher/deploy_files.hpp"
#include "launcher/launch.hpp"

namespace troupe::cli {

namespace fs = std::filesystem;
using namespace deploy;
using json = nlohmann::ordered_json;

namespace {

const fs::path config_dir = "/etc/troupe";
// Any uid but 0: a node needs no account, only its volume (fsGroup).
constexpr int pod_user = 65532;

bool dns_label(const std::string& s) {  // RFC 1035, as a Service's name must be
  static const std::regex label("[a-z]([-a-z0-9]{0,61}[a-z0-9])?");
  return std::regex_match(s, label);
}

bool dns_subdomain(const std::string& s) {  // RFC 1123, as most object names
  static const std::regex name("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return s.size() <= 253 && std::regex_match(s, name);
}

bool config_map_key(const std::string& s) {
  static const std::regex key("[-._a-zA-Z0-9]+");
  return s.size() <= 253 && std::regex_match(s, key);
}

struct names {
  std::string cluster;  // as in object names
  std::string service_of(const std::string& node) const { return cluster + "-" + node; }
  std::string secret_of(const std::string& node) const { return "troupe-" + cluster + "-" + node + "-key"; }
  std::string config_map() const { return "troupe-" + cluster + "-config"; }
};

/// A file the pods need, from the ConfigMap.
struct mounted_file {
  std::string key;     // in the ConfigMap
  fs::path local;      // read here
  fs::path in_pod;     // mounted there
};

struct cluster_plan {
  names n;
  std::string config_key;  // the config's file name
  std::vector<mounted_file> files;
  std::map<std::string, fs::path> data_dir;  // by node, in the pod
};

std::string address_of(const names& n, const std::string& node, const kubernetes_options& o) {
  return n.service_of(node) + "." + o.ns + ".svc." + o.cluster_domain;
}

/// The hosts: section (and each node's host and ports) that fits.
std::string hosts_to_write(const cluster::config& cfg, const names& n, const kubernetes_options& o) {
  json hosts = json::object(), nodes = json::object();
  for (const auto& node : cfg.nodes) {
    hosts[node.name] = json{{"address", address_of(n, node.name, o)}};
    nodes[node.name] = json{{"host", node.name},
                            {"ports", {{"pub", port_of(node.pub_bind).value_or(0)},
                                       {"control", port_of(node.control_bind).value_or(0)}}}};
    if (!node.metrics_bind.empty())
      nodes[node.name]["ports"]["metrics"] = port_of("tcp://" + node.metrics_bind).value_or(0);
  }
  return "# the hosts: section, and each node's host and ports (the rest of each node as it is):\n"
         + yaml_document(json{{"hosts", hosts}, {"nodes", nodes}});
}

/// What only the host addresses tell: each node alone on a host whose
/// address is its Service's name.
void check_hosts(const cluster::config& cfg, const names& n, const kubernetes_options& o,
                 std::vector<std::string>& problems) {
  if (cfg.hosts.empty()) {
    problems.push_back(cfg.file + ": in Kubernetes each node's peers dial its Service's DNS name: the config needs "
                                  "a hosts: section, one host per node");
    return;
  }
  for (const auto& h : cfg.hosts) {
    const auto on = cfg.nodes_on(h.name);
    if (on.size() > 1) {
      std::string which;
      for (const auto* node : on)
        which += (which.empty() ? "" : ", ") + node->name;
      problems.push_back(at(cfg, h.line, h.column,
                            "hosts." + h.name + ": nodes " + which + " share this host; in Kubernetes each node is "
                                "a pod of its own behind its own Service: give each a host of its own"));
    } else if (on.size() == 1 && h.address != address_of(n, on.front()->name, o)) {
      problems.push_back(at(cfg, h.line, h.column,
                            "hosts." + h.name + ".address: '" + h.address + "' is not the DNS name of node "
                                + on.front()->name + "'s Service; its peers must dial "
                                + address_of(n, on.front()->name, o)));
    }
  }
  for (const auto& node : cfg.nodes)
    if (!cfg.find_host(node.host))
      problems.push_back(cfg.file + ": nodes." + node.name + ": has its own endpoints; in Kubernetes give it a host "
                                    "whose address is its Service's DNS name");
}

result<cluster_plan> plan(const cluster::config& cfg, const kubernetes_options& o, const config_paths& paths) {
  std::vector<std::string> problems;
  cluster_plan p;
  p.n.cluster = cfg.cluster;
  if (!dns_label(o.ns))
    problems.push_back("--namespace '" + o.ns + "': a namespace is a DNS label (a-z, 0-9, '-')");
  if (!dns_subdomain(o.cluster_domain))
    problems.push_back("--cluster-domain '" + o.cluster_domain + "' is not a DNS name");
  static const std::regex quantity("[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?");
  if (!std::regex_match(o.storage, quantity))
    problems.push_back("--storage '" + o.storage + "': a Kubernetes quantity, such as 1Gi");
  if (o.image.empty() || std::any_of(o.image.begin(), o.image.end(), [](unsigned char c) { return c <= ' '; }))
    problems.push_back("--image '" + o.image + "': an image reference has no white space");
  for (const auto& node : cfg.nodes) {
    if (!dns_label(p.n.service_of(node.name)))
      problems.push_back(cfg.file + ": nodes." + node.name + ": its Service would be named '"
                         + p.n.service_of(node.name) + "', which is not a DNS label (a-z, 0-9, '-', at most 63): "
                         "rename the cluster or the node");
    if (!port_of(node.pub_bind) || !port_of(node.control_bind))
      problems.push_back(cfg.file + ": nodes." + node.name + ": a node in a pod listens on tcp:// ports");
  }
  if (!problems.empty())  // names that cannot be checked against the hosts
    return not_deployable(problems);
  check_hosts(cfg, p.n, o, problems);
  if (!problems.empty()) {
    problems.push_back(hosts_to_write(cfg, p.n, o));
    return not_deployable(problems);
  }

  p.config_key = fs::path(cfg.file).filename().string();
  if (!config_map_key(p.config_key))
    problems.push_back(cfg.file + ": a config file named with a-z, A-Z, 0-9, '.', '_' and '-' only, as a "
                                  "ConfigMap key");
  const auto config_in_pod = config_dir / p.config_key;
  p.files.push_back({p.config_key, fs::absolute(cfg.file).lexically_normal(), config_in_pod});
  const auto add_key = [&](const std::string& key, const named_path& path) {
    const auto in_pod = path.installed(config_in_pod);
    for (const auto& f : p.files)
      if (f.in_pod == in_pod)
        return;  // one file named twice
    if (!config_map_key(key))
      problems.push_back(at(cfg, path, "'" + key + "' cannot be a ConfigMap key"));
    p.files.push_back({key, (cfg.dir / path.text).lexically_normal(), in_pod});
  };
  for (const auto& [name, path] : paths.node_public)
    add_key("node." + name + ".pub", path);
  for (const auto& [name, path] : paths.client_public)
    add_key("client." + name + ".pub", path);
  const auto data_dir = paths.data_dir.installed(config_in_pod);
  for (const auto& node : cfg.nodes)
    p.data_dir[node.name] = data_dir / node.name;
  if (!problems.empty())
    return not_deployable(problems);
  return p;
}

json labels(const cluster_plan& p, const std::string& node) {
  return {{"app.kubernetes.io/name", "troupe"}, {"app.kubernetes.io/instance", p.n.cluster},
          {"app.kubernetes.io/component", node}};
}

json metadata(const std::string& name, const kubernetes_options& o, json labels) {
  return {{"name", name}, {"namespace", o.ns}, {"labels", std::move(labels)}};
}

json ports_of(const cluster::node_spec& node, bool service) {
  json pub = {{"name", "pub"}}, control = {{"name", "control"}};
  if (service) {
    pub["port"] = *port_of(node.pub_bind);
    pub["targetPort"] = "pub";
    control["port"] = *port_of(node.control_bind);
    control["targetPort"] = "control";
  } else {
    pub["containerPort"] = *port_of(node.pub_bind);
    control["containerPort"] = *port_of(node.control_bind);
  }
  pub["protocol"] = "TCP";
  control["protocol"] = "TCP";
  auto ports = json::array({pub, control});
  if (const auto m = port_of("tcp://" + node.metrics_bind)) {
    // Prometheus's /metrics: scraped through the pod's port.
    json metrics = {{"name", "metrics"}, {"protocol", "TCP"}};
    if (service) {
      metrics["port"] = *m;
      metrics["targetPort"] = "metrics";
    } else {
      metrics["containerPort"] = *m;
    }
    ports.push_back(std::move(metrics));
  }
  return ports;
}

json service(const cluster_plan& p, const kubernetes_options& o, const cluster::node_spec& node) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", metadata(p.n.service_of(node.name), o, labels(p, node.name))},
          {"spec",
           {{"clusterIP", "None"},
            {"publishNotReadyAddresses", true},
            {"selector", labels(p, node.name)},
            {"ports", ports_of(node, true)}}}};
}

json container(const cluster::config& cfg, const cluster_plan& p, const kubernetes_options& o,
               const cluster::node_spec& node) {
  const auto config_in_pod = (config_dir / p.config_key).string();
  json env = json::array({{{"name", "TROUPE_NODE"}, {"value", node.name}}});
  if (cfg.secure())
    env.push_back({{"name", "TROUPE_SECRET_KEY"},
                   {"valueFrom", {{"secretKeyRef", {{"name", p.n.secret_of(node.name)}, {"key", "secret-key"}}}}}});
  json mounts = json::array({{{"name", "data"}, {"mountPath", p.data_dir.at(node.name).string()}},
                             {{"name", "tmp"}, {"mountPath", "/tmp"}}});
  for (const auto& f : p.files)
    mounts.push_back({{"name", "config"}, {"mountPath", f.in_pod.string()}, {"subPath", f.key}, {"readOnly", true}});
  return {{"name", "troupe"},
          {"image", o.image},
          {"command", {"troupe", "node", config_in_pod, "--node", node.name}},
          {"env", env},
          {"ports", ports_of(node, false)},
          {"readinessProbe",
           {{"exec", {{"command", {"troupe", "probe", config_in_pod, "--node", node.name}}}},
            {"periodSeconds", 5},
            {"timeoutSeconds", 5},
            {"failureThreshold", 3}}},
          {"securityContext",
           {{"runAsNonRoot", true},
            {"allowPrivilegeEscalation", false},
            {"readOnlyRootFilesystem", true},
            {"capabilities", {{"drop", {"ALL"}}}}}},
          {"volumeMounts", mounts}};
}

json stateful_set(const cluster::config& cfg, const cluster_plan& p, const kubernetes_options& o,
                  const cluster::node_spec& node) {
  const auto name = p.n.service_of(node.name);
  json pod_spec = {
      {"terminationGracePeriodSeconds", stop_grace.count()},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", pod_user},
        {"runAsGroup", pod_user},
        {"fsGroup", pod_user},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"containers", json::array({container(cfg, p, o, node)})},
      {"volumes",
       {{{"name", "config"}, {"configMap", {{"name", p.n.config_map()}}}},
        {{"name", "tmp"}, {"emptyDir", json::object()}}}}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", metadata(name, o, labels(p, node.name))},
          {"spec",
           {{"serviceName", name},
            {"replicas", 1},
            {"selector", {{"matchLabels", labels(p, node.name)}}},
            {"template", {{"metadata", {{"labels", labels(p, node.name)}}}, {"spec", pod_spec}}},
            {"volumeClaimTemplates",
             {{{"metadata", {{"name", "data"}}},
               {"spec",
                {{"accessModes", {"ReadWriteOnce"}},
                 {"resources", {{"requests", {{"storage", o.storage}}}}}}}}}}}}};
}

result<json> config_map(const cluster_plan& p, const kubernetes_options& o) {
  json data = json::object();
  for (const auto& f : p.files) {
    std::ifstream in(f.local, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof())
      return error{errc::not_deployable, "cannot read " + f.local.string()};
    if (!cluster::valid_utf8(text))
      return error{errc::not_deployable, f.local.string() + " is not UTF-8 text, which a ConfigMap's data must be"};
    data[f.key] = text;
  }
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", metadata(p.n.config_map(), o, {{"app.kubernetes.io/name", "troupe"},
                                                          {"app.kubernetes.io/instance", p.n.cluster}})},
              {"data", data}};
}

std::string readme_text(const cluster::config& cfg, const cluster_plan& p, const kubernetes_options& o) {
  std::string r = "# troupe cluster " + cfg.cluster + " on Kubernetes\n\n"
                  "Made by `troupe deploy kubernetes` from " + cfg.file + ", for namespace " + o.ns + ". "
                  "Every node is a StatefulSet of one replica behind a headless Service whose DNS name is its host's "
                  "address in the config; its data directory is a volume claim, its config and the public keys "
                  "come from the ConfigMap " + p.n.config_map() + ". The image (" + o.image + ") must have `troupe` "
                  "on its PATH; the pods run as uid " + std::to_string(pod_user) + " on a read-only root.\n\n"
                  "```sh\n"
                  "kubectl create namespace " + shell_word(o.ns) + "   # unless it exists\n";
  if (cfg.secure()) {
    r += "# each node's secret key, as a Secret (the files `troupe keygen --config` made)\n";
    for (const auto& node : cfg.nodes) {
      r += "kubectl -n " + shell_word(o.ns) + " create secret generic " + p.n.secret_of(node.name) + " ";
      if (!node.secret.file.empty())
        r += "--from-file=secret-key=" + shell_word(node.secret.file.string()) + "\n";
      else
        r += "--from-literal=secret-key=\"$" + node.secret.env + "\"\n";
    }
  }
  r += "kubectl apply -f .   # this folder\n";
  for (const auto& node : cfg.nodes)
    r += "kubectl -n " + shell_word(o.ns) + " rollout status statefulset/" + p.n.service_of(node.name) + "\n";
  r += "```\n\n"
       "A pod is ready once its node has bound its sockets and opened its store (`troupe probe`). The Services' "
       "names resolve inside the cluster only: run the CLI there, with a client's key of the config.\n"
       "Files the config names besides the public keys (a service's own files) are not in the ConfigMap: add "
       "them.\n";
  return r;
}

} // namespace

result<file_set> kubernetes_files(const cluster::config& cfg, const kubernetes_options& opts) {
  auto paths = paths_of(cfg);
  if (!paths)
    return paths.err();
  auto p = plan(cfg, opts, *paths);
  if (!p)
    return p.err();
  auto cm = config_map(*p, opts);
  if (!cm)
    return cm.err();
  file_set files;
  files["configmap.yaml"] = yaml_documents({*cm});
  for (const auto& node : cfg.nodes)
    files[node.name + ".yaml"] = yaml_documents({service(*p, opts, node), stateful_set(cfg, *p, opts, node)});
  files["README.md"] = readme_text(cfg, *p, opts);
  return files;
}

int deploy_kubernetes(const cluster::config& cfg, const kubernetes_options& opts, const fs::path& out) {
  const auto files = kubernetes_files(cfg, opts);
  if (const int rc = write_out(files, out))
    return rc;
  std::printf("%s: wrote %zu files for %zu nodes; make the Secrets as %s/README.md says, then:\n"
              "  kubectl apply -f %s\n",
              out.c_str(), files->size(), cfg.nodes.size(), out.c_str(), out.c_str());
  return 0;
}

} // namespace troupe::cli
