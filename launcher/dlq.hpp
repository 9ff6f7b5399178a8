// `troupe dlq`: operating a dead-letter queue. list and show read the DLQ
// service's records; redrive and purge are commands sent to it as events
// (so that each takes effect exactly once), after every selected record was
// checked: an unknown id, or a rule or target that no longer exists, is
// reported and nothing changes.
#pragma once

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

} // namespace troupe::cli
