// Dead letters: what a node sends its DLQ about a delivery that failed for
// good, with the attributes EventBridge puts on a dead-letter message, and
// the original event carried as JSON so that an operator can read it and a
// redrive can rebuild it exactly.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "wire/envelope.hpp"
#include "wire/error.hpp"

namespace troupe {

/// EventBridge's names for why a delivery failed for good.
namespace error_code {
inline constexpr const char* handler_error = "HANDLER_ERROR";      // a transient failure, retries exhausted
inline constexpr const char* permanent_error = "PERMANENT_ERROR";  // retrying cannot help
inline constexpr const char* crash = "CRASH";                      // the handler threw; its actor restarted
inline constexpr const char* timeout = "TIMEOUT";                  // no answer within the handler timeout
inline constexpr const char* service_failed = "SERVICE_FAILED";    // past its restart intensity
inline constexpr const char* max_event_age = "MAX_EVENT_AGE";      // a consumer never acked it in time
inline constexpr const char* redrive_refused = "REDRIVE_REFUSED";  // its rule or target is gone
inline constexpr const char* undecodable_event = "UNDECODABLE_EVENT";  // its bytes cannot be read here
}  // namespace error_code

/// One delivery that failed for good.
struct dead_letter {
  std::string dlq;        // the DLQ service it goes to
  std::string rule;       // RULE_ARN
  std::string target;     // TARGET_ARN
  std::string node;       // where the target runs
  std::string error_code;
  std::string error_message;
  std::string exhausted_retry_condition;  // MaximumRetryAttempts, MaximumEventAgeInSeconds, or empty
  int retry_attempts = 0;                 // retries after the first attempt
  std::int64_t first_attempt_ms = 0, last_attempt_ms = 0;
  wire::envelope event;
};

/// The envelope as JSON, with its detail decoded (null when it is not
/// decodable, or not valid UTF-8, or `raw_detail` asks for it; the bytes
/// then travel as `detail-msgpack-hex`).
nlohmann::json event_to_json(const wire::envelope& ev, bool raw_detail = false);

/// Rebuilds an envelope from `event_to_json`'s form. Fails naming the field
/// that is missing or of the wrong type.
result<wire::envelope> event_from_json(const nlohmann::json& j);

/// The detail of a DeadLetter event.
nlohmann::json to_detail(const dead_letter& d, bool raw_detail = false);

/// Reads a DeadLetter event's detail back; fails naming the field.
result<dead_letter> dead_letter_from_detail(const nlohmann::json& detail);

} // namespace troupe
