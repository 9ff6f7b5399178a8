// The flight example's client: `troupe book` and `troupe bookings`.
//
// A booking enters the cluster as a `BookingRequested` event put on the
// booking node's control socket (PutEvents); its event id is the booking
// id, and its outcome is read back from the booking service by query, or
// from the DLQ when a dead letter stopped its saga. Every booking carries
// an idempotency key, so a PutEvents call that got no reply is sent again
// (a node killed or paused is ridden through) and books nothing twice.
// This is example code: the runtime knows nothing of bookings.
#pragma once

#include <string>

#include "cluster/config.hpp"

namespace troupe::cli {

struct book_options {
  // One booking.
  std::string customer = "Ada Lovelace";
  std::string email = "ada@example.com";
  std::string flight;  // default: the first flight of the seat service
  std::string seat = "any";
  double amount = 249.90;
  std::string card = "4111111111111111";
  // Generated bookings.
  int count = 0;       // 0: one booking from the fields above
  double rate = 500;   // bookings per second
  std::uint64_t seed = 1;
  double wait_s = 60;  // how long to wait for outcomes; 0: do not wait
  double put_timeout_s = 300;  // how long to keep retrying one PutEvents call
  bool json = false;   // summary as one JSON object
  bool quiet = false;  // no progress bar
};

int book(const cluster::config& cfg, const book_options& opts);

struct bookings_options {
  bool json = false;
  std::string state;  // filter
};

int list_bookings(const cluster::config& cfg, const bookings_options& opts);

} // namespace troupe::cli
