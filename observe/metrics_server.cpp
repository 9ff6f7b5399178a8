#include "observe/metrics_server.hpp"

#include <pthread.h>

#include <httplib.h>

#include "observe/prometheus.hpp"

namespace troupe::observe {

std::unique_ptr<metrics_server> metrics_server::start(const std::string& host, int port, producer p,
                                                      std::string& why) {
  std::unique_ptr<metrics_server> s(new metrics_server);
  s->server_ = std::make_unique<httplib::Server>();
  auto& svr = *s->server_;
  // A scrape a second, from one or two servers: two threads are plenty, and
  // a client that holds a connection open cannot hold more than that.
  svr.new_task_queue = [] { return new httplib::ThreadPool(2); };
  svr.set_read_timeout(5, 0);
  svr.set_write_timeout(5, 0);
  svr.set_keep_alive_timeout(5);
  svr.set_payload_max_length(64 * 1024);
  svr.Get("/metrics", [p](const httplib::Request&, httplib::Response& res) {
    auto text = p();
    if (!text) {
      res.status = 503;
      res.set_content("metrics are not available now\n", "text/plain");
      return;
    }
    res.set_content(std::move(*text), content_type);
  });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("troupe: Prometheus metrics at /metrics\n", "text/plain");
  });
  // SO_REUSEADDR only, as the gateway: a second process on the port fails.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  if (!svr.bind_to_port(host, port)) {
    why = "cannot listen on " + host + ":" + std::to_string(port) + " for /metrics: " + std::strerror(errno);
    return nullptr;
  }
  s->thread_ = std::thread([&svr] {
    pthread_setname_np(pthread_self(), "troupe.metrics");
    svr.listen_after_bind();
  });
  return s;
}

metrics_server::~metrics_server() {
  if (server_)
    server_->stop();
  if (thread_.joinable())
    thread_.join();
}

}  // namespace troupe::observe
