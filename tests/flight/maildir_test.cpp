#include "actors/flight/maildir.hpp"

#include <set>

#include <gtest/gtest.h>

#include "tests/flight/helpers.hpp"
#include "tests/flight/mail_parser.hpp"

namespace troupe::flight {
namespace {

namespace fs = std::filesystem;
using test::temp_dir;

TEST(maildir, create_makes_tmp_new_cur_and_is_repeatable) {
  temp_dir dir;
  maildir md(dir.path() / "a" / "b");
  EXPECT_FALSE(fs::exists(md.root())) << "construction does no I/O";
  ASSERT_TRUE(md.create());
  ASSERT_TRUE(md.create());
  for (const char* sub : {"tmp", "new", "cur"})
    EXPECT_TRUE(fs::is_directory(md.root() / sub)) << sub;
}

TEST(maildir, deliver_puts_the_exact_bytes_in_new) {
  temp_dir dir;
  maildir md(dir.path());
  ASSERT_TRUE(md.create());
  const std::string message = "Subject: hi\r\n\r\nbody\r\n";
  auto file = md.deliver(message);
  ASSERT_TRUE(file) << file.err().message;
  EXPECT_EQ(file->parent_path(), dir.path() / "new");
  EXPECT_EQ(test::read_file(file->string()), message);
  EXPECT_TRUE(test::files_in(dir.path() / "tmp").empty());
  EXPECT_TRUE(test::files_in(dir.path() / "cur").empty());
}

TEST(maildir, names_are_unique_and_follow_the_convention) {
  temp_dir dir;
  maildir md(dir.path());
  ASSERT_TRUE(md.create());
  std::set<std::string> names;
  const auto prefix_pid = "." + std::to_string(::getpid()) + "_";
  for (int i = 0; i < 100; ++i) {
    auto file = md.deliver("x");
    ASSERT_TRUE(file) << file.err().message;
    const auto name = file->filename().string();
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_NE(name.find(prefix_pid), std::string::npos) << name;
    EXPECT_EQ(name.substr(name.size() - maildir::host_name().size()), maildir::host_name()) << name;
  }
  EXPECT_EQ(test::files_in(dir.path() / "new").size(), 100u);
  EXPECT_EQ(maildir::host_name().find_first_of("/:"), std::string::npos);
}

TEST(maildir, failures_are_io_errors_with_the_system_reason) {
  temp_dir dir;
  maildir missing(dir.path() / "never-created");
  auto file = missing.deliver("x");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.err().code, errc::io);
  EXPECT_NE(file.err().message.find("No such file or directory"), std::string::npos) << file.err().message;
  EXPECT_NE(file.err().message.find("never-created"), std::string::npos) << file.err().message;

  { std::ofstream(dir.path() / "file") << "x"; }
  maildir under_file(dir.path() / "file" / "md");
  auto made = under_file.create();
  ASSERT_FALSE(made);
  EXPECT_EQ(made.err().code, errc::io);
  EXPECT_NE(made.err().message.find("Not a directory"), std::string::npos) << made.err().message;
}

} // namespace
} // namespace troupe::flight
