// The saga end to end with every node's store in each durability mode the
// config offers besides the default: `fsync` (a database file synced at
// each commit) and `none` (a database in memory, no file at all).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "launcher/common.hpp"
#include "tests/integration/bookings.hpp"
#include "tests/integration/chaos_support.hpp"
#include "tests/integration/cluster.hpp"
#include "wire/client.hpp"

namespace troupe::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class durability_mode : public ::testing::TestWithParam<const char*> {};

TEST_P(durability_mode, a_saga_runs_end_to_end) {
  const std::string mode = GetParam();
  // The shipped routing, with one big flight that never fills.
  cluster c(shipped{"configs/flight.yaml", "", std::string(big_flight_services).substr(1), mode});
  c.start();
  auto cfg = cli::load_config(c.config_path());
  ASSERT_TRUE(cfg);
  for (const auto& node : cfg->nodes)
    ASSERT_EQ(node.durability, mode) << node.name;

  // Twenty good bookings and one with a declined card: every step of the
  // saga, its cancellation path included, crosses every node.
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i)
    names.push_back("Customer " + std::to_string(i));
  const auto ids = book(c, names);
  ASSERT_EQ(ids.size(), names.size());
  json rows;
  EXPECT_TRUE(wait_confirmed(*cfg, ids, 60s, rows)) << rows.dump(1) << c.launcher_output().substr(0, 4000);

  wire::client client(c.control("booking"), c.curve("booking"));
  wire::control_request req;
  req.verb = "put";
  std::string detail;
  json::to_msgpack(json{{"customer", "Declined"}, {"email", "d@example.com"}, {"flight", "BIG"},
                        {"seat_preference", "any"}, {"amount", 100}, {"card", "4000000000000002"}},
                   detail);
  req.entries.push_back({"test", "BookingRequested", detail, "", {}, {}});
  auto rep = client.call(req, 10s);
  ASSERT_TRUE(rep && rep->ok && rep->results.size() == 1 && rep->results[0].ok());
  const auto declined = rep->results[0].id;
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = cli::query(*cfg, "booking", "bookings", json{{"ids", {declined}}}, 5s);
        return r && r->size() == 1 && (*r)[0]["state"] == "CANCELLED";
      },
      30s));

  // One email per booking, confirmed or cancelled, in the Maildir.
  const auto mails = [&] {
    std::size_t n = 0;
    if (std::filesystem::exists(c.dir() / "mail" / "new"))
      for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator(c.dir() / "mail" / "new"))
        ++n;
    return n;
  };
  EXPECT_TRUE(wait_until([&] { return mails() == ids.size() + 1; }, 30s)) << mails() << " emails";

  // The mode is what the stores did: a file per node, or none.
  for (const auto& n : node_names)
    EXPECT_EQ(std::filesystem::exists(c.node_data_dir(n) / "node.db"), mode != "none") << n;
  EXPECT_EQ(c.stop(), 0) << c.launcher_output().substr(0, 4000);
}

INSTANTIATE_TEST_SUITE_P(durability_mode, durability_mode, ::testing::Values("fsync", "none"),
                         [](const auto& info) { return std::string(info.param); });

} // namespace
} // namespace troupe::test
