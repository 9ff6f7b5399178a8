// Reading a node's store for `read` requests and the offline audit: pages
// in (service, table, key) order that end where asked (rows, bytes,
// services), and the inbox and outbox counts, on a real store written
// through its own API and read on a connection of its own.
#include "actors/runtime/store_read.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <tuple>

#include "store/node_store.hpp"
#include "tests/support/support.hpp"

namespace troupe::runtime {
namespace {

using namespace std::chrono_literals;

struct store_fixture : ::testing::Test {
  troupe::test::temp_dir dir;
  std::string path = (dir.path() / "node.db").string();
  static constexpr std::int64_t now = 10'000'000;

  /// Runs `job` in one transaction of the store (opened for it).
  void write(const store::node_store::job& job) {
    store::snapshot snap;
    auto s = store::node_store::open(path, store::durability::os, snap);
    ASSERT_TRUE(s) << s.err().message;
    (*s)->fatal = [](const std::string& why) { ADD_FAILURE() << why; };
    (*s)->submit(job);
    (*s)->stop();
  }

  /// Rows a..., b... of services "a", "b", "c": `per_service` each, in
  /// tables t1 and t2.
  void fill(int per_service) {
    write([per_service](store::txn& t) -> result<void> {
      for (const char* service : {"c", "a", "b"})
        for (int i = 0; i < per_service; ++i)
          TROUPE_TRY(t.state_put(service, i % 2 ? "t2" : "t1", "k" + std::to_string(100 + i),
                                 R"({"n":)" + std::to_string(i) + "}"));
      return {};
    });
  }

  static age_of_stream ages() {
    return [](const std::string& stream) { return stream == "Short" ? 60'000ms : 3'600'000ms; };
  }

  wire::read_page page(const page_bounds& b) {
    auto p = read_store_page(path, b, now, ages());
    EXPECT_TRUE(p) << p.err().to_string();
    return p ? *p : wire::read_page{};
  }

  /// Every row, page by page of `bounds`; the number of pages in `pages`.
  std::vector<wire::state_entry> all_pages(page_bounds bounds, std::size_t& pages) {
    std::vector<wire::state_entry> rows;
    pages = 0;
    for (;;) {
      auto p = page(bounds);
      ++pages;
      rows.insert(rows.end(), p.rows.begin(), p.rows.end());
      if (!p.next || pages > 1000)
        return rows;
      EXPECT_EQ(*p.next, p.rows.back().at);
      bounds.after = p.next;
    }
  }
};

TEST_F(store_fixture, pages_hold_every_row_once_in_order_and_the_last_has_no_next) {
  fill(10);
  auto db = store::database::open_read_only(path);
  ASSERT_TRUE(db);
  auto whole = read_whole_store(*db, now, ages());
  ASSERT_TRUE(whole) << whole.err().to_string();
  ASSERT_EQ(whole->rows.size(), 30u);
  EXPECT_FALSE(whole->next);
  EXPECT_EQ(whole->rows.front().at, (wire::state_key{"a", "t1", "k100"}));
  EXPECT_EQ(whole->rows.back().at, (wire::state_key{"c", "t2", "k109"}));
  for (std::size_t i = 1; i < whole->rows.size(); ++i) {
    const auto &x = whole->rows[i - 1].at, &y = whole->rows[i].at;
    EXPECT_LT(std::tie(x.service, x.table, x.key), std::tie(y.service, y.table, y.key)) << i;
  }
  EXPECT_EQ(whole->rows.front().value, R"({"n":0})");

  struct row {
    const char* name;
    std::size_t limit;
    std::size_t pages;
  };
  for (const auto& r : {row{"one row a page", 1, 30}, row{"seven", 7, 5}, row{"exactly all", 30, 1},
                        row{"ten: the last page ends the rows", 10, 3}, row{"more than all", 1000, 1}}) {
    page_bounds b;
    b.limit = r.limit;
    std::size_t pages = 0;
    auto rows = all_pages(b, pages);
    ASSERT_EQ(rows.size(), whole->rows.size()) << r.name;
    for (std::size_t i = 0; i < rows.size(); ++i)
      EXPECT_EQ(rows[i].at, whole->rows[i].at) << r.name << " row " << i;
    EXPECT_EQ(pages, r.pages) << r.name;
  }
}

TEST_F(store_fixture, a_page_stops_past_its_bytes_but_always_holds_a_row) {
  fill(10);
  page_bounds b;
  b.max_bytes = 1;  // every row is over it
  auto first = page(b);
  ASSERT_EQ(first.rows.size(), 1u);
  ASSERT_TRUE(first.next);
  b.max_bytes = 100;  // a row's strings are about 40 bytes
  std::size_t pages = 0;
  auto rows = all_pages(b, pages);
  EXPECT_EQ(rows.size(), 30u);
  EXPECT_GT(pages, 5u);
  EXPECT_LT(pages, 30u);
}

TEST_F(store_fixture, a_page_of_some_services_holds_only_theirs) {
  fill(5);
  page_bounds b;
  b.services = {"c", "a"};
  b.limit = 3;
  std::size_t pages = 0;
  auto rows = all_pages(b, pages);
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows.front().at.service, "a");
  EXPECT_EQ(rows.back().at.service, "c");
  for (const auto& r : rows)
    EXPECT_NE(r.at.service, "b");
  b.services = {"nobody"};
  auto none = page(b);
  EXPECT_TRUE(none.rows.empty());
  EXPECT_FALSE(none.next);
}

TEST_F(store_fixture, every_page_counts_the_inbox_and_the_outbox_per_stream_against_its_age) {
  write([](store::txn& t) -> result<void> {
    TROUPE_TRY(t.state_put("a", "t", "k", "{}"));
    for (int i = 0; i < 2; ++i) {
      auto id = t.inbox_add("a", "r", "bytes");
      if (!id)
        return id.err();
    }
    // Short's age is a minute: two of three are older. Long's an hour.
    TROUPE_TRY(t.outbox_append("Short", 1, now - 120'000, "e1"));
    TROUPE_TRY(t.outbox_append("Short", 2, now - 61'000, "e2"));
    TROUPE_TRY(t.outbox_append("Short", 3, now - 1'000, "e3"));
    TROUPE_TRY(t.outbox_append("Long", 1, now - 120'000, "e4"));
    return {};
  });
  page_bounds b;
  b.limit = 1;
  auto p = page(b);
  EXPECT_EQ(p.inbox, 2u);
  ASSERT_EQ(p.outbox.size(), 2u);
  EXPECT_EQ(p.outbox[0].stream, "Long");
  EXPECT_EQ(p.outbox[0].unacked, 1u);
  EXPECT_EQ(p.outbox[0].expired, 0u);
  EXPECT_EQ(p.outbox[1].stream, "Short");
  EXPECT_EQ(p.outbox[1].unacked, 3u);
  EXPECT_EQ(p.outbox[1].expired, 2u);
}

TEST_F(store_fixture, a_store_that_is_not_there_or_not_a_database_is_an_error) {
  auto missing = read_store_page(path, {}, now, ages());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.err().message.find(path), std::string::npos) << missing.err().message;
  std::ofstream(dir.path() / "junk.db") << std::string(4096, 'x');
  auto junk = read_store_page((dir.path() / "junk.db").string(), {}, now, ages());
  EXPECT_FALSE(junk);
}

} // namespace
} // namespace troupe::runtime
