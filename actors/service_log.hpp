// A line logger for services (their domain lines, beside the runtime's).
//
// Every line carries its context first (`[service=payment corr=B-42] ...`),
// so a saga can be followed across nodes by grepping one correlation id.
// Lines go to stderr unless a sink is installed (tests install a quiet or
// capturing one). Installing a sink is meant for start-up, before events flow.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace troupe {

using log_sink = std::function<void(const std::string& line)>;

/// Replaces where lines go; an empty sink restores stderr.
void set_log_sink(log_sink sink);

/// Writes `[service=<service> corr=<corr>] <message>`.
void log_line(std::string_view service, std::string_view corr, std::string_view message);

} // namespace troupe
