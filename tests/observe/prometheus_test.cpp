// Prometheus's text format as troupe writes it: families with HELP and
// TYPE, escaped label values, cumulative histogram buckets ending in +Inf.
// (`promtool check metrics` reads a real node's output in integration-observe.)
#include "observe/prometheus.hpp"

#include <gtest/gtest.h>

namespace troupe::observe {
namespace {

TEST(prometheus, a_family_has_help_type_and_its_samples) {
  exposition x;
  x.family("troupe_invocations_total", "counter", "Deliveries that ended.\nWell or not \\ at all.");
  x.sample("troupe_invocations_total", {{"rule", "r\"1"}, {"target", "a\\b\nc"}}, 42);
  x.sample("troupe_invocations_total", {}, 0.5);
  EXPECT_EQ(x.text(),
            "# HELP troupe_invocations_total Deliveries that ended.\\nWell or not \\\\ at all.\n"
            "# TYPE troupe_invocations_total counter\n"
            "troupe_invocations_total{rule=\"r\\\"1\",target=\"a\\\\b\\nc\"} 42\n"
            "troupe_invocations_total 0.5\n");
}

TEST(prometheus, histogram_buckets_are_cumulative_and_end_at_inf) {
  histogram h;
  h.observe(0.0005);
  h.observe(0.003);
  h.observe(0.003);
  h.observe(1000);  // past every bound: only in +Inf
  exposition x;
  x.histogram("lat_seconds", {{"rule", "r"}}, h);
  const auto& t = x.text();
  EXPECT_NE(t.find("lat_seconds_bucket{rule=\"r\",le=\"0.001\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{rule=\"r\",le=\"0.005\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{rule=\"r\",le=\"300\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{rule=\"r\",le=\"+Inf\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_count{rule=\"r\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_sum{rule=\"r\"} 1000.0065"), std::string::npos) << t;
}

TEST(prometheus, values_are_written_as_the_format_reads_them) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(-2), "-2");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(prometheus, the_process_reports_its_cpu_memory_and_fds) {
  exposition x;
  process_metrics(x);
  const auto& t = x.text();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_start_time_seconds ", "process_open_fds "})
    EXPECT_NE(t.find(std::string("\n") + name), std::string::npos) << name << " in\n" << t;
}

}  // namespace
}  // namespace troupe::observe
