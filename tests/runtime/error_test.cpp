// One error style: each module's codes keep their module as they travel,
// compare with that module's enum only, and say whether to try again.
#include <gtest/gtest.h>

#include "actors/runtime/error.hpp"
#include "store/node_store.hpp"
#include "wire/envelope.hpp"

namespace troupe {
namespace {

result<void> store_fails() { return error{store::errc::corrupt, "node.db is damaged"}; }

/// A runtime function passing a store error up unchanged.
result<int> runtime_step() {
  TROUPE_TRY(store_fails());
  return 1;
}

TEST(errors, a_code_keeps_its_module_on_the_way_up) {
  auto r = runtime_step();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, store::errc::corrupt);
  EXPECT_STREQ(r.err().code.category().name(), "store");
  EXPECT_EQ(r.err().to_string(), "corrupt: node.db is damaged");
  // Equal numbers in other modules are other codes.
  EXPECT_NE(r.err().code, make_error_code(static_cast<wire::errc>(static_cast<int>(store::errc::corrupt))));
}

TEST(errors, each_module_says_which_codes_are_retryable) {
  struct row {
    std::error_code code;
    bool retryable;
  };
  const std::vector<row> rows = {
      {wire::errc::io, true},           {wire::errc::truncated, false},     {wire::errc::too_large, false},
      {store::errc::io, true},          {store::errc::corrupt, false},      {store::errc::bad_version, false},
      {store::errc::full, false},       {runtime::errc::io, true},          {runtime::errc::config, false},
      {runtime::errc::invalid_event, false}, {runtime::errc::service_failed, false},
  };
  for (const auto& r : rows)
    EXPECT_EQ((error{r.code, "x"}.retryable()), r.retryable) << r.code.category().name() << "." << r.code.message();
  // A code from outside troupe's modules is never taken as retryable.
  EXPECT_FALSE((error{std::make_error_code(std::errc::timed_out), "x"}.retryable()));
}

TEST(errors, a_decoding_error_is_the_wires_and_permanent) {
  auto d = wire::decode(std::string("\x9c\x01\xc1", 3));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.err().code, wire::errc::not_msgpack);
  EXPECT_STREQ(d.err().code.category().name(), "wire");
  EXPECT_FALSE(d.err().retryable());
}

TEST(errors, a_damaged_store_file_is_corrupt_not_io) {
  const auto path = ::testing::TempDir() + "/troupe-error-test-not-a-db";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not a database, and it is long enough to have a header of sorts......", f);
    std::fclose(f);
  }
  auto db = store::database::open(path, store::durability::os);
  std::remove(path.c_str());
  ASSERT_FALSE(db);
  EXPECT_EQ(db.err().code, store::errc::corrupt) << db.err().to_string();
  EXPECT_FALSE(db.err().retryable());
}

} // namespace
} // namespace troupe
