#include "actors/service_log.hpp"

#include <gtest/gtest.h>

#include "apps/flight/tests/helpers.hpp"

namespace troupe::flight {
namespace {

// The services log as they work; keep test output readable.
const test::quiet_logs quiet;

TEST(flight_log, lines_start_with_their_context) {
  std::vector<std::string> lines;
  set_log_sink([&](const std::string& l) { lines.push_back(l); });
  log_line("payment", "B-42", "charged 10");
  log_line("seat", "", "no correlation");
  set_log_sink([](const std::string&) {});
  EXPECT_EQ(lines, (std::vector<std::string>{"[service=payment corr=B-42] charged 10",
                                             "[service=seat corr=-] no correlation"}));
}

} // namespace
} // namespace troupe::flight
