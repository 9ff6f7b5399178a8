#include "actors/runtime/restart_intensity.hpp"

#include <gtest/gtest.h>

namespace troupe::runtime {
namespace {

using ms = std::chrono::milliseconds;

struct intensity_case {
  const char* name;
  int max;
  long within_ms;
  std::vector<long> at_ms;       // restarts asked, in order
  std::vector<bool> admitted;    // what each gets
};

TEST(restart_intensity, admits_exactly_max_restarts_within_the_sliding_window) {
  const std::vector<intensity_case> cases = {
      {"max 2: the third within the window is refused", 2, 10000, {0, 1000, 2000}, {true, true, false}},
      {"a restart exactly `within` after the first no longer counts it", 2, 10000, {0, 1000, 10000}, {true, true, true}},
      {"one millisecond before, it still counts", 2, 10000, {0, 1000, 9999}, {true, true, false}},
      {"the window slides: spaced restarts go on for ever", 1, 1000, {0, 1000, 2000, 3000, 4000},
       {true, true, true, true, true}},
      {"a refused restart is not counted", 1, 1000, {0, 500, 1000}, {true, false, true}},
      {"max 0 admits none", 0, 1000, {0}, {false}},
      {"max 5 within 30 s, as the default", 5, 30000, {0, 1, 2, 3, 4, 5, 29999, 30000},
       {true, true, true, true, true, false, false, true}},
  };
  for (const auto& c : cases) {
    restart_intensity r(c.max, ms(c.within_ms));
    const auto t0 = restart_intensity::clock::time_point{} + std::chrono::hours(1);
    for (std::size_t i = 0; i < c.at_ms.size(); ++i)
      EXPECT_EQ(r.admit(t0 + ms(c.at_ms[i])), c.admitted[i]) << c.name << ", restart " << i << " at " << c.at_ms[i];
  }
}

}  // namespace
}  // namespace troupe::runtime
