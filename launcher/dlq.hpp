// `troupe dlq`: operating a dead-letter queue. list and show read the DLQ
// service's records; redrive and purge are commands sent to it as events
// (so that each takes effect exactly once), after every selected record was
// checked: an unknown id, or a rule or target that no longer exists, is
// reported and nothing changes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cluster/config.hpp"

namespace troupe::cli {

struct dlq_options {
  std::string dlq = "dlq";            // the DLQ service
  std::vector<std::string> ids;       // show, redrive, purge
  bool all = false;                   // redrive, purge: every record the filters select
  std::string rule, target, error_code;  // filters
  bool json = false;                  // JSON lines instead of a table
};

int dlq_list(const cluster::config& cfg, const dlq_options& opts);
int dlq_show(const cluster::config& cfg, const dlq_options& opts);
/// `purge` false: redrive.
int dlq_move(const cluster::config& cfg, const dlq_options& opts, bool purge);

/// What a redrive or purge did, for a caller that says it its own way (the
/// dashboard's redrive).
struct dlq_move_outcome {
  int code = 0;                       // dlq_move's exit code
  std::vector<std::string> problems;  // why it failed, each once; nothing changed unless `moved`
  std::vector<std::string> moved;     // the records the DLQ took the command for
  std::size_t left = 0;               // of them, still in the DLQ after the time allowed
};

/// dlq_move without printing: selects and checks the records, sends the
/// commands as the operator client, and waits until the records are gone
/// (15 s at most).
dlq_move_outcome dlq_move_records(const cluster::config& cfg, const dlq_options& opts, bool purge);

} // namespace troupe::cli
