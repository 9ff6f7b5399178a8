#include "log/journal.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/support/support.hpp"

namespace troupe::log {
namespace {

/// A file of its own, open, and its "DEVICE:INODE" as systemd writes it.
struct stream_file {
  test::temp_dir dir;
  int fd = -1;
  std::string id;

  stream_file() {
    fd = ::open((dir.path() / "out").c_str(), O_WRONLY | O_CREAT, 0600);
    struct stat st {};
    ::fstat(fd, &st);
    id = std::to_string(static_cast<unsigned long long>(st.st_dev)) + ":" +
         std::to_string(static_cast<unsigned long long>(st.st_ino));
  }
  ~stream_file() { ::close(fd); }
};

TEST(log_journal, the_stream_named_is_the_journal) {
  stream_file f;
  EXPECT_TRUE(is_journal_stream(f.fd, f.id.c_str()));
}

TEST(log_journal, another_stream_is_not) {
  stream_file f, other;
  EXPECT_FALSE(is_journal_stream(f.fd, other.id.c_str()));
  const auto dev = f.id.substr(0, f.id.find(':'));
  EXPECT_FALSE(is_journal_stream(f.fd, (dev + ":1").c_str()));
}

TEST(log_journal, no_or_malformed_variable_is_not) {
  stream_file f;
  EXPECT_FALSE(is_journal_stream(f.fd, nullptr));
  for (const auto* bad : {"", ":", "12", "a:b", "12:", ":34", "1:2:3", " 1:2", "-1:2"})
    EXPECT_FALSE(is_journal_stream(f.fd, bad)) << bad;
  EXPECT_FALSE(is_journal_stream(-1, f.id.c_str()));
}

TEST(log_journal, priorities_are_sd_daemons) {
  EXPECT_EQ(priority_prefix(spdlog::level::critical), "<2>");
  EXPECT_EQ(priority_prefix(spdlog::level::err), "<3>");
  EXPECT_EQ(priority_prefix(spdlog::level::warn), "<4>");
  EXPECT_EQ(priority_prefix(spdlog::level::info), "<6>");
  EXPECT_EQ(priority_prefix(spdlog::level::debug), "<7>");
  EXPECT_EQ(priority_prefix(spdlog::level::trace), "<7>");
}

// What a process run by systemd sees: its stdout is the stream named.
TEST(log_journal, stdout_is_the_journal_when_the_variable_names_it) {
  stream_file f;
  const int saved = ::dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  ::fflush(stdout);
  ::dup2(f.fd, STDOUT_FILENO);
  ::setenv("JOURNAL_STREAM", f.id.c_str(), 1);
  const bool named = stdout_is_journal();
  ::setenv("JOURNAL_STREAM", "1:1", 1);
  const bool other = stdout_is_journal();
  ::unsetenv("JOURNAL_STREAM");
  const bool unset = stdout_is_journal();
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  EXPECT_TRUE(named);
  EXPECT_FALSE(other);
  EXPECT_FALSE(unset);
}

}  // namespace
}  // namespace troupe::log
