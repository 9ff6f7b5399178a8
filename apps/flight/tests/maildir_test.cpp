#include "apps/flight/services/maildir.hpp"

#include <set>

#include <gtest/gtest.h>

#include "apps/flight/tests/helpers.hpp"
#include "apps/flight/tests/mail_parser.hpp"

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

TEST(maildir, deliver_as_uses_the_given_name) {
  temp_dir dir;
  maildir md(dir.path());
  ASSERT_TRUE(md.create());
  auto file = md.deliver_as("1700000000.BB-1.host", "one");
  ASSERT_TRUE(file) << file.err().message;
  EXPECT_EQ(*file, dir.path() / "new" / "1700000000.BB-1.host");
  EXPECT_EQ(test::read_file(file->string()), "one");
  EXPECT_TRUE(test::files_in(dir.path() / "tmp").empty());
}

TEST(maildir, deliver_as_overwrites_a_stale_tmp_file) {
  temp_dir dir;
  maildir md(dir.path());
  ASSERT_TRUE(md.create());
  { std::ofstream(dir.path() / "tmp" / "n.x.host") << "a longer half-written message"; }
  auto file = md.deliver_as("n.x.host", "whole");
  ASSERT_TRUE(file) << file.err().message;
  EXPECT_EQ(test::read_file(file->string()), "whole");
  EXPECT_TRUE(test::files_in(dir.path() / "tmp").empty());
}

TEST(maildir, deliver_as_never_replaces_a_delivered_message) {
  temp_dir dir;
  maildir md(dir.path());
  ASSERT_TRUE(md.create());
  ASSERT_TRUE(md.deliver_as("n.x.host", "first"));
  auto again = md.deliver_as("n.x.host", "second");
  ASSERT_TRUE(again) << again.err().message;
  EXPECT_EQ(*again, dir.path() / "new" / "n.x.host");
  EXPECT_EQ(test::read_file(again->string()), "first");
  EXPECT_EQ(test::files_in(dir.path() / "new").size(), 1u);
  EXPECT_TRUE(test::files_in(dir.path() / "tmp").empty());
}

struct bad_name_case {
  const char* name;
  const char* file_name;
};

class maildir_bad_name : public ::testing::TestWithParam<bad_name_case> {};

TEST_P(maildir_bad_name, is_refused_before_any_write) {
  temp_dir dir;
  maildir md(dir.path());
  ASSERT_TRUE(md.create());
  auto file = md.deliver_as(GetParam().file_name, "x");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.err().code, errc::bad_name);
  EXPECT_TRUE(test::files_in(dir.path() / "tmp").empty());
  EXPECT_TRUE(test::files_in(dir.path() / "new").empty());
}

INSTANTIATE_TEST_SUITE_P(cases, maildir_bad_name,
                         ::testing::Values(bad_name_case{"empty", ""}, bad_name_case{"slash", "../escape"},
                                           bad_name_case{"colon", "a:2,S"}, bad_name_case{"dot", "."},
                                           bad_name_case{"dot_dot", ".."}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(maildir, messages_are_those_in_new_and_cur) {
  temp_dir dir;
  maildir md(dir.path());
  ASSERT_TRUE(md.create());
  ASSERT_TRUE(md.deliver_as("1.a.host", "x"));
  { std::ofstream(dir.path() / "cur" / "2.b.host:2,S") << "y"; }
  { std::ofstream(dir.path() / "tmp" / "3.c.host") << "z"; }
  { std::ofstream(dir.path() / "cur" / ".hidden") << "z"; }
  auto list = md.messages();
  ASSERT_TRUE(list) << list.err().message;
  std::set<std::string> names;
  for (const auto& p : *list)
    names.insert(p.parent_path().filename().string() + "/" + p.filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"new/1.a.host", "cur/2.b.host:2,S"}));

  maildir missing(dir.path() / "nope");
  EXPECT_FALSE(missing.messages());
}

TEST(maildir, base_name_drops_the_flags) {
  EXPECT_EQ(maildir::base_name("1.a.host:2,RS"), "1.a.host");
  EXPECT_EQ(maildir::base_name("1.a.host"), "1.a.host");
  EXPECT_EQ(maildir::base_name("1.a.host:"), "1.a.host");
}

} // namespace
} // namespace troupe::flight
