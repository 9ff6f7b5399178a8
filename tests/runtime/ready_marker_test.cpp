#include "actors/runtime/ready_marker.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "tests/support/support.hpp"

namespace troupe::runtime {
namespace {

TEST(ready_marker, names_this_process_until_removed) {
  test::temp_dir dir;
  auto none = ready_process(dir.path());
  ASSERT_FALSE(none);
  EXPECT_NE(none.err().message.find("no ready marker"), std::string::npos) << none.err().message;
  ASSERT_TRUE(write_ready_marker(dir.path()));
  auto ready = ready_process(dir.path());
  ASSERT_TRUE(ready) << ready.err().message;
  EXPECT_EQ(*ready, ::getpid());
  remove_ready_marker(dir.path());
  EXPECT_FALSE(ready_process(dir.path()));
  remove_ready_marker(dir.path());  // twice: nothing to do
}

TEST(ready_marker, one_left_by_a_process_that_is_gone_is_not_ready) {
  test::temp_dir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0)
    ::_exit(write_ready_marker(dir.path()) ? 0 : 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto gone = ready_process(dir.path());
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.err().message.find("(pid " + std::to_string(child) + ") is gone"), std::string::npos)
      << gone.err().message;
}

TEST(ready_marker, a_live_pid_that_started_at_another_time_is_not_the_writer) {
  // A restarted container's node is pid 1 again: the start time tells.
  struct marker_case {
    const char* name;
    std::string text;
  };
  const std::vector<marker_case> cases = {
      {"own pid, another start", std::to_string(::getpid()) + " 1\n"},
      {"not a marker", "ready\n"},
      {"empty", ""},
      {"pid 0", "0 0\n"},
  };
  for (const auto& c : cases) {
    test::temp_dir dir;
    std::ofstream(ready_marker_path(dir.path())) << c.text;
    EXPECT_FALSE(ready_process(dir.path())) << c.name;
  }
}

} // namespace
} // namespace troupe::runtime
