// Raw libzmq PUB/SUB over tcp loopback, the ceiling troupe's single hop is
// compared with, measured two ways:
//   - in one process: one context with one I/O thread for both sockets, a
//     producer thread sending [topic][body] and the caller receiving (the
//     bench's figure since it began);
//   - in two processes, as libzmq measures itself (perf/local_thr and
//     remote_thr): a publisher and a subscriber forked apart, each with its
//     own context, sending the very frames a troupe node publishes, timed
//     by the subscriber from the first message to the last.
// Both report the CPU of the processes involved (all their threads).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace troupe::bench {

struct raw_result {
  double msgs_per_s = 0;
  double cpu_us_per_msg = 0;  // every process involved, all their threads
  double pub_cpu_us_per_msg = 0;  // two processes only: the publisher's share
  double sub_cpu_us_per_msg = 0;  // and the subscriber's
};

/// One process: `n` messages [topic][body of `size` bytes]; the whole
/// process's CPU over the run. Throws on a socket error.
raw_result raw_one_process(std::size_t n, std::size_t size);

/// Two forked processes: `n` messages of the two frames [topic][body],
/// exactly as given; the subscriber subscribes to `topic` (as a troupe SUB
/// does to each detail-type's topic). Call it while the bench has no other
/// thread: it forks. Throws when a side fails or the run takes longer than
/// `timeout_s`.
raw_result raw_two_processes(std::size_t n, const std::string& topic, const std::string& body,
                             double timeout_s = 120);

/// Where the two processes of raw_two_processes run when not both on this
/// host's loopback: the publisher binds `bind` and the subscriber dials
/// `dial`, each forked child first calling its `enter` (for the bench's
/// hosts, moving into its host's network namespace).
struct raw_link {
  std::string bind, dial;
  std::function<void()> enter_publisher, enter_subscriber;
};
raw_result raw_two_processes(std::size_t n, const std::string& topic, const std::string& body, const raw_link& link,
                             double timeout_s = 120);

} // namespace troupe::bench
