// The flight-booking application: its services, and its commands
// (`book`, `bookings`, `audit`). It registers itself with the troupe
// binary; the runtime and the CLI know nothing of bookings.
#include <CLI/CLI.hpp>

#include "apps/flight/cli/flight_audit.hpp"
#include "apps/flight/cli/flight_client.hpp"
#include "apps/flight/services/register.hpp"
#include "launcher/application.hpp"
#include "wire/control.hpp"

namespace troupe::flight {

namespace {

std::vector<cli::command> add_commands(CLI::App& app) {
  std::vector<cli::command> out;

  auto bo = std::make_shared<cli::book_options>();
  auto* book = app.add_subcommand("book", "Book flights and wait for the outcomes");
  auto book_config = cli::add_config(book);
  book->add_option("--customer", bo->customer, "Customer name")->capture_default_str();
  book->add_option("--email", bo->email, "Customer email")->capture_default_str();
  book->add_option("--flight", bo->flight, "Flight (default: the first one in the config)");
  book->add_option("--seat", bo->seat, "Seat preference")
      ->check(CLI::IsMember({"window", "aisle", "any"}))
      ->capture_default_str();
  book->add_option("--amount", bo->amount, "Price")->check(CLI::PositiveNumber)->capture_default_str();
  book->add_option("--card", bo->card, "Card number")->capture_default_str();
  book->add_option("--count", bo->count, "Generate this many bookings (a mix that includes failures)")
      ->check(CLI::Range(1, 10000000));
  book->add_option("--rate", bo->rate, "Generated bookings per second")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  book->add_option("--seed", bo->seed, "Seed of the generator")->capture_default_str();
  book->add_option("--wait", bo->wait_s, "Seconds to wait for outcomes (0: print the ids and return)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  book->add_option("--put-timeout", bo->put_timeout_s,
                   "Seconds to keep retrying a PutEvents call that gets no reply (nodes restarting or paused)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  book->add_flag("--json", bo->json, "Print the summary as JSON");
  book->add_flag("--quiet", bo->quiet, "No progress bar");
  out.push_back({book, book_config, [bo](const cluster::config& cfg) { return cli::book(cfg, *bo); }});

  auto lo = std::make_shared<cli::bookings_options>();
  auto format = std::make_shared<std::string>("table");
  auto* bookings = app.add_subcommand("bookings", "List the bookings and their states");
  auto bookings_config = cli::add_config(bookings);
  bookings->add_option("--format", *format, "table or json (one object per line)")
      ->check(CLI::IsMember({"table", "json"}));
  bookings->add_option("--state", lo->state, "Only this state")
      ->check(CLI::IsMember({"PENDING", "CONFIRMED", "CANCELLED"}));
  out.push_back({bookings, bookings_config, [lo, format](const cluster::config& cfg) {
                   lo->json = *format == "json";
                   return cli::list_bookings(cfg, *lo);
                 }});

  auto ao = std::make_shared<cli::audit_options>();
  auto* audit = app.add_subcommand("audit",
                                   "Ask every node for its store and check them against the saga's invariants "
                                   "(exit 1 on a violation, 3 when a node could not be read)");
  auto audit_config = cli::add_config(audit);
  audit->add_option("--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
  audit->add_flag("--allow-in-flight", ao->allow_in_flight, "Bookings still in flight are not violations");
  audit->add_option("--wait", ao->wait_s,
                    "Seconds to keep looking until the audit passes with every node read (a cluster finishing "
                    "its sagas)")
      ->check(CLI::NonNegativeNumber);
  audit->add_flag("--offline", ao->offline,
                  "Read the stores and the Maildir from this machine's disk, not from the nodes (a stopped "
                  "cluster)");
  audit->add_option("--page-rows", ao->page_rows, "Rows and mails asked of a node per request")
      ->check(CLI::Range(std::uint32_t{1}, wire::max_read_rows))
      ->capture_default_str();
  out.push_back({audit, audit_config, [ao, format](const cluster::config& cfg) {
                   ao->json = *format == "json";
                   return cli::audit(cfg, *ao);
                 }});
  return out;
}

}  // namespace

TROUPE_APPLICATION(flight, {"flight", register_services, add_commands});

}  // namespace troupe::flight
