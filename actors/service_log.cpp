#include "actors/service_log.hpp"

#include <iostream>
#include <mutex>

namespace troupe {

namespace {

std::mutex& sink_mutex() {
  static std::mutex m;
  return m;
}

log_sink& current_sink() {
  static log_sink sink;
  return sink;
}

} // namespace

void set_log_sink(log_sink sink) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  current_sink() = std::move(sink);
}

void log_line(std::string_view service, std::string_view corr, std::string_view message) {
  std::string line;
  line.reserve(service.size() + corr.size() + message.size() + 24);
  line += "[service=";
  line += service;
  line += " corr=";
  line += corr.empty() ? std::string_view("-") : corr;
  line += "] ";
  line += message;
  std::lock_guard<std::mutex> lock(sink_mutex());
  if (current_sink())
    current_sink()(line);
  else
    std::cerr << line << '\n';
}

} // namespace troupe
