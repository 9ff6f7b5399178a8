// The flight-booking application: its services, and its commands
// (`book`, `bookings`, `audit`). It registers itself with the troupe
// binary; the runtime and the CLI know nothing of bookings.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/flight/cli/flight_audit.hpp"
#include "apps/flight/cli/flight_client.hpp"
#include "apps/flight/services/register.hpp"
#include "launcher/application.hpp"
#include "launcher/cli_conventions.hpp"
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
  auto book_format = std::make_shared<std::string>("table");
  auto* format_opt = cli::add_format(book, *book_format);
  // Before --format there was --json: kept, hidden, for the scripts that use it.
  auto json_alias = std::make_shared<bool>(false);
  book->add_flag("--json", *json_alias, "Deprecated: --format json")->group("");
  book->callback([json_alias, format_opt] {
    if (*json_alias && format_opt->count() > 0)
      throw CLI::ExcludesError("--json", "--format");
  });
  book->add_flag("--quiet", bo->quiet, "No progress bar");
  cli::example(book, "troupe book configs/flight.yaml --flight TR100 --seat window --amount 249.90");
  cli::example(book, "troupe book configs/flight.yaml --count 500 --rate 200 --quiet --format json");
  out.push_back({book, book_config, [bo, book_format, json_alias](const cluster::config& cfg) {
                   if (*json_alias)
                     std::fprintf(stderr, "troupe book: --json is deprecated, use --format json\n");
                   bo->json = *book_format == "json" || *json_alias;
                   return cli::book(cfg, *bo);
                 }});

  auto lo = std::make_shared<cli::bookings_options>();
  auto format = std::make_shared<std::string>("table");
  auto* bookings = app.add_subcommand("bookings", "List the bookings and their states");
  auto bookings_config = cli::add_config(bookings);
  cli::add_format(bookings, *format);
  bookings->add_option("--state", lo->state, "Only this state")
      ->check(CLI::IsMember({"PENDING", "CONFIRMED", "CANCELLED"}));
  cli::example(bookings, "troupe bookings configs/flight.yaml --state CANCELLED");
  out.push_back({bookings, bookings_config, [lo, format](const cluster::config& cfg) {
                   lo->json = *format == "json";
                   return cli::list_bookings(cfg, *lo);
                 }});

  auto ao = std::make_shared<cli::audit_options>();
  auto* audit = app.add_subcommand("audit",
                                   "Ask every node for its store and check them against the saga's invariants "
                                   "(exit 1 on a violation, 3 when a node could not be read)");
  auto audit_config = cli::add_config(audit);
  cli::add_format(audit, *format);
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
  cli::example(audit, "troupe audit configs/flight.yaml --wait 30");
  out.push_back({audit, audit_config, [ao, format](const cluster::config& cfg) {
                   ao->json = *format == "json";
                   return cli::audit(cfg, *ao);
                 }});
  return out;
}

}  // namespace

TROUPE_APPLICATION(flight, {"flight", register_services, add_commands});

}  // namespace troupe::flight
