// Serves Prometheus's /metrics over HTTP on a thread of its own (cpp-httplib).
// Each scrape calls the producer, which may wait for the process's event
// loop; what it returns is the body. A node and a gateway each run one.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace troupe::observe {

class metrics_server {
 public:
  /// The exposition text, or nullopt when it cannot be had now (503).
  using producer = std::function<std::optional<std::string>()>;

  /// Binds `host`:`port` and serves from a thread; nullptr with the reason
  /// in `why` when it cannot bind.
  static std::unique_ptr<metrics_server> start(const std::string& host, int port, producer p, std::string& why);

  ~metrics_server();  // stops serving and joins the thread
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

 private:
  metrics_server() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace troupe::observe
