// Settings validation of every flight service, through the registry and
// from YAML text, checking the exact `file:line:column: reason` lines.
#include <gtest/gtest.h>

#include "apps/flight/tests/helpers.hpp"

namespace troupe::flight {
namespace {

using test::operator<<;

struct settings_case {
  const char* name;
  const char* service;
  std::string yaml;                   // a config excerpt with a `services:` map
  std::vector<std::string> problems;  // empty: accepted
};

// Builds `service` from its section of `yaml` (null when the section is absent).
std::vector<std::string> problems_of(const settings_case& c, bool& built) {
  const YAML::Node root = YAML::Load(c.yaml);
  YAML::Node settings(YAML::NodeType::Null);
  if (root.IsMap() && root["services"] && root["services"].IsMap() && root["services"][c.service])
    settings = root["services"][c.service];
  cluster::diagnostics diag("flight.yaml");
  service_registry registry;
  register_services(registry);
  const auto* factory = registry.find(c.service);
  if (!factory)
    return {"no factory"};
  auto svc = (*factory)(settings, service_context{"n1", "/tmp/troupe-data", "/tmp/troupe-config"}, diag);
  built = svc != nullptr;
  std::vector<std::string> out;
  for (const auto& p : diag.problems())
    out.push_back(p.to_string());
  return out;
}

class flight_settings : public ::testing::TestWithParam<settings_case> {};

TEST_P(flight_settings, are_reported_at_their_position) {
  const auto& c = GetParam();
  bool built = false;
  const auto got = problems_of(c, built);
  EXPECT_EQ(got, c.problems);
  EXPECT_EQ(built, c.problems.empty()) << "a factory returns null exactly when it reported a problem";
}

INSTANTIATE_TEST_SUITE_P(
    seat, flight_settings,
    ::testing::Values(
        settings_case{"seat_valid", "seat",
                      "services:\n"
                      "  seat:\n"
                      "    flights:\n"
                      "      TR100: { rows: 30, layout: \"ABC DEF\" }\n"
                      "      TR200: { rows: 200, layout: A }\n",
                      {}},
        settings_case{"seat_rows_zero", "seat",
                      "services:\n"
                      "  seat:\n"
                      "    flights:\n"
                      "      TR100:\n"
                      "        rows: 0\n"
                      "        layout: \"ABC DEF\"\n",
                      {"flight.yaml:5:15: services.seat.flights.TR100.rows: must be an integer from 1 to 200"}},
        settings_case{"seat_rows_inline", "seat",
                      "services:\n"
                      "  seat:\n"
                      "    flights:\n"
                      "      TR100: { rows: 0, layout: \"ABC DEF\" }\n",
                      {"flight.yaml:4:22: services.seat.flights.TR100.rows: must be an integer from 1 to 200"}},
        settings_case{"seat_rows_too_many", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        rows: 201\n        layout: AB\n",
                      {"flight.yaml:5:15: services.seat.flights.TR100.rows: must be an integer from 1 to 200"}},
        settings_case{"seat_rows_fraction", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        rows: 1.5\n        layout: AB\n",
                      {"flight.yaml:5:15: services.seat.flights.TR100.rows: must be an integer from 1 to 200"}},
        settings_case{"seat_rows_quoted", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        rows: \"12\"\n        layout: AB\n",
                      {"flight.yaml:5:15: services.seat.flights.TR100.rows: must be an integer from 1 to 200"}},
        settings_case{"seat_layout_double_space", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        rows: 10\n        layout: \"AB  CD\"\n",
                      {"flight.yaml:6:17: services.seat.flights.TR100.layout: must separate seat groups with "
                       "single spaces"}},
        settings_case{"seat_layout_repeated", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        rows: 10\n        layout: ABA\n",
                      {"flight.yaml:6:17: services.seat.flights.TR100.layout: lists seat 'A' twice"}},
        settings_case{"seat_layout_list", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        rows: 10\n        layout: [A, B]\n",
                      {"flight.yaml:6:17: services.seat.flights.TR100.layout: must be a string such as \"ABC DEF\""}},
        settings_case{"seat_missing_rows", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        layout: ABC\n",
                      {"flight.yaml:5:9: services.seat.flights.TR100: missing 'rows'"}},
        settings_case{"seat_unknown_key", "seat",
                      "services:\n  seat:\n    flights:\n      TR100:\n        rows: 3\n        layout: ABC\n"
                      "        seats: 9\n",
                      {"flight.yaml:7:9: services.seat.flights.TR100: unknown key 'seats' (expected one of: rows, "
                       "layout)"}},
        settings_case{"seat_no_flights", "seat", "services:\n  seat: {}\n",
                      {"flight.yaml:2:9: services.seat: missing 'flights'"}},
        settings_case{"seat_absent", "seat", "services: {}\n",
                      {"flight.yaml:0:0: services.seat: missing 'flights'"}},
        settings_case{"seat_empty_flights", "seat", "services:\n  seat:\n    flights: {}\n",
                      {"flight.yaml:3:14: services.seat.flights: must be a non-empty map from flight number to "
                       "{rows, layout}"}},
        settings_case{"seat_every_problem", "seat",
                      "services:\n"
                      "  seat:\n"
                      "    flights:\n"
                      "      TR100: { rows: -1, layout: ABC }\n"
                      "      TR200: { rows: 5, layout: abc }\n"
                      "    extra: 1\n",
                      {"flight.yaml:6:5: services.seat: unknown key 'extra' (expected one of: flights)",
                       "flight.yaml:4:22: services.seat.flights.TR100.rows: must be an integer from 1 to 200",
                       "flight.yaml:5:33: services.seat.flights.TR200.layout: must contain only capital letters "
                       "and spaces"}}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    payment, flight_settings,
    ::testing::Values(
        settings_case{"payment_valid", "payment",
                      "services:\n"
                      "  payment:\n"
                      "    gateway:\n"
                      "      declined-cards: [4000000000000002, \"5105105105105100\"]\n"
                      "      default-limit: 1000.50\n"
                      "      limits: { \"4111111111111111\": 300, 5555555555554444: 0 }\n",
                      {}},
        settings_case{"payment_absent", "payment", "services: {}\n", {}},
        settings_case{"payment_every_problem", "payment",
                      "services:\n"
                      "  payment:\n"
                      "    gateway:\n"
                      "      declined-cards: [\"4000000000000002\", \"1234\", \"4111111111111112\"]\n"
                      "      default-limit: -5\n"
                      "      limits:\n"
                      "        \"5555555555554444\": lots\n"
                      "        \"12\": 10\n"
                      "      retries: 3\n",
                      {"flight.yaml:9:7: services.payment.gateway: unknown key 'retries' (expected one of: "
                       "declined-cards, default-limit, limits)",
                       "flight.yaml:4:44: services.payment.gateway.declined-cards[1]: '1234' is not a card number "
                       "(12 to 19 digits)",
                       "flight.yaml:4:52: services.payment.gateway.declined-cards[2]: '4111111111111112' fails the "
                       "Luhn check, so it is always refused as invalid",
                       "flight.yaml:5:22: services.payment.gateway.default-limit: must be a number of at least 0",
                       "flight.yaml:7:29: services.payment.gateway.limits.5555555555554444: must be a number of at "
                       "least 0",
                       "flight.yaml:8:9: services.payment.gateway.limits: '12' is not a card number (12 to 19 "
                       "digits)"}},
        settings_case{"payment_gateway_list", "payment", "services:\n  payment:\n    gateway: [1, 2]\n",
                      {"flight.yaml:3:14: services.payment.gateway: must be a map"}},
        settings_case{"payment_declined_not_a_list", "payment",
                      "services:\n  payment:\n    gateway:\n      declined-cards: 4000000000000002\n",
                      {"flight.yaml:4:23: services.payment.gateway.declined-cards: must be a list of card numbers"}},
        settings_case{"payment_limit_text", "payment",
                      "services:\n  payment:\n    gateway:\n      default-limit: lots\n",
                      {"flight.yaml:4:22: services.payment.gateway.default-limit: must be a number of at least 0"}},
        settings_case{"payment_limit_exponent", "payment",
                      "services:\n  payment:\n    gateway:\n      default-limit: 1e3\n      limits: {\"4111111111111111\": .5}\n",
                      {}},
        settings_case{"payment_limit_infinite", "payment",
                      "services:\n  payment:\n    gateway:\n      default-limit: .inf\n",
                      {"flight.yaml:4:22: services.payment.gateway.default-limit: must be a number of at least 0"}},
        settings_case{"payment_limit_quoted", "payment",
                      "services:\n  payment:\n    gateway:\n      default-limit: \"100\"\n",
                      {"flight.yaml:4:22: services.payment.gateway.default-limit: must be a number of at least 0"}},
        settings_case{"payment_typo", "payment", "services:\n  payment:\n    gateway:\n      default_limit: 5\n",
                      {"flight.yaml:4:7: services.payment.gateway: unknown key 'default_limit' (expected one of: "
                       "declined-cards, default-limit, limits)"}}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    notification, flight_settings,
    ::testing::Values(
        settings_case{"notification_valid", "notification",
                      "services:\n  notification:\n    from: bookings@troupe.example\n    maildir: mail\n", {}},
        settings_case{"notification_missing_from", "notification", "services:\n  notification:\n    maildir: mail\n",
                      {"flight.yaml:3:5: services.notification: missing 'from'"}},
        settings_case{"notification_absent", "notification", "services: {}\n",
                      {"flight.yaml:0:0: services.notification: missing 'from'"}},
        settings_case{"notification_from_without_at", "notification",
                      "services:\n  notification:\n    from: bookings\n",
                      {"flight.yaml:3:11: services.notification.from: must be an email address containing '@', like "
                       "bookings@example.com or \"Bookings <bookings@example.com>\""}},
        settings_case{"notification_from_with_name", "notification",
                      "services:\n  notification:\n    from: \"troupe flights <bookings@troupe.example>\"\n", {}},
        settings_case{"notification_from_name_without_address", "notification",
                      "services:\n  notification:\n    from: \"troupe flights <bookings>\"\n",
                      {"flight.yaml:3:11: services.notification.from: must be an email address containing '@', like "
                       "bookings@example.com or \"Bookings <bookings@example.com>\""}},
        settings_case{"notification_empty_maildir", "notification",
                      "services:\n  notification:\n    from: a@b.example\n    maildir: \"\"\n",
                      {"flight.yaml:4:14: services.notification.maildir: must be a non-empty string"}},
        settings_case{"notification_maildir_under_proc", "notification",
                      "services:\n  notification:\n    from: a@b.example\n    maildir: /proc/mail\n",
                      {"flight.yaml:4:14: services.notification.maildir: '/proc/mail' is on proc, a kernel file "
                       "system that holds no data"}},
        settings_case{"notification_maildir_not_a_directory", "notification",
                      "services:\n  notification:\n    from: a@b.example\n    maildir: /dev/null/mail\n",
                      {"flight.yaml:4:14: services.notification.maildir: '/dev/null/mail' cannot be made: "
                       "'/dev/null' is not a directory"}},
        settings_case{"notification_typo", "notification", "services:\n  notification:\n    form: a@b.example\n",
                      {"flight.yaml:3:5: services.notification: unknown key 'form' (expected one of: from, maildir)",
                       "flight.yaml:3:5: services.notification: missing 'from'"}}),
    [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(
    no_settings, flight_settings,
    ::testing::Values(settings_case{"booking_absent", "booking", "services: {}\n", {}},
                      settings_case{"booking_empty", "booking", "services:\n  booking: {}\n", {}},
                      settings_case{"booking_unknown_key", "booking", "services:\n  booking: {retries: 3}\n",
                                    {"flight.yaml:2:13: services.booking: unknown key 'retries' (this service "
                                     "takes no settings)"}},
                      settings_case{"ticket_absent", "ticket", "services: {}\n", {}},
                      settings_case{"ticket_list", "ticket", "services:\n  ticket: [1]\n",
                                    {"flight.yaml:2:11: services.ticket: must be a map"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(flight_registry, registers_the_five_services) {
  service_registry registry;
  register_services(registry);
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"booking", "payment", "seat", "ticket", "notification"}));
}

} // namespace
} // namespace troupe::flight
