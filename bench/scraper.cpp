#include "bench/scraper.hpp"

#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <httplib.h>

#include "tests/support/support.hpp"

namespace troupe::bench {

std::map<std::string, std::string> add_metrics_endpoints(const std::filesystem::path& config) {
  std::ifstream in(config);
  if (!in)
    throw std::runtime_error("cannot read " + config.string());
  // The lines are the ones tests/integration/cluster.cpp writes: a node's
  // name alone on its line in `nodes`, then its endpoints in flow style.
  static const std::regex section_re(R"(^([A-Za-z][A-Za-z0-9_-]*):.*)");
  static const std::regex node_re(R"(^  ([A-Za-z0-9_-]+):\s*(#.*)?$)");
  static const std::regex endpoints_re(R"(^(\s+endpoints:\s*\{[^}]*)\}(.*)$)");
  static const std::regex metrics_re(R"re(metrics:\s*"([^"]*)")re");
  std::ostringstream out;
  std::map<std::string, std::string> targets;
  std::string section, node;
  std::size_t nodes = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, section_re))
      section = m[1].str();
    if (section == "nodes" && std::regex_match(line, m, node_re)) {
      node = m[1].str();
      ++nodes;
    } else if (section == "nodes" && !node.empty() && std::regex_match(line, m, endpoints_re)) {
      std::smatch given;
      const auto inside = m[1].str();
      if (std::regex_search(inside, given, metrics_re)) {
        targets[node] = given[1].str();  // one already there is kept
      } else {
        targets[node] = "127.0.0.1:" + std::to_string(test::free_port());
        line = inside + ", metrics: \"" + targets[node] + "\"}" + m[2].str();
      }
    }
    out << line << "\n";
  }
  if (nodes == 0 || targets.size() != nodes)
    throw std::runtime_error(config.string() + ": expected an endpoints line per node (found " + std::to_string(nodes)
                             + " nodes, " + std::to_string(targets.size()) + " endpoints)");
  in.close();
  std::ofstream rewritten(config, std::ios::trunc);
  if (!(rewritten << out.str()))
    throw std::runtime_error("cannot write " + config.string());
  return targets;
}

scraper::scraper(std::map<std::string, std::string> targets, std::chrono::milliseconds period)
    : targets_(std::move(targets)), period_(period), thread_([this] { run(); }) {}

scraper::~scraper() { stop(); }

scrape_stats scraper::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
  return stats_;
}

void scraper::run() {
  std::vector<std::pair<std::string, std::unique_ptr<httplib::Client>>> clients;
  for (const auto& [name, address] : targets_) {
    const auto colon = address.rfind(':');
    auto client = std::make_unique<httplib::Client>(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
    client->set_keep_alive(true);
    client->set_connection_timeout(std::chrono::seconds(1));
    client->set_read_timeout(std::chrono::seconds(5));
    clients.emplace_back(name, std::move(client));
  }
  auto next = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    for (auto& [name, client] : clients) {
      const auto start = std::chrono::steady_clock::now();
      auto res = client->Get("/metrics");
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      stats_.total_ms += ms;
      stats_.max_ms = std::max(stats_.max_ms, ms);
      if (res && res->status == 200) {
        ++stats_.scrapes;
        stats_.bytes += res->body.size();
      } else {
        ++stats_.failures;
        stats_.last_error = name + ": " + (res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error()));
      }
    }
    next += period_;
    lock.lock();
    wake_.wait_until(lock, next, [this] { return stopping_; });
  }
}

} // namespace troupe::bench
