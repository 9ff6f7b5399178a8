// The generic commands for events and rules, beside the applications':
// `troupe gateway` (EventBridge's API over HTTP), `troupe put-events` and
// `troupe list-rules`, whose output is the AWS CLI's JSON.
#pragma once

#include <vector>

#include "launcher/application.hpp"

namespace troupe::cli {

std::vector<command> events_commands(CLI::App& app);

}  // namespace troupe::cli
