// Dead letters and redrives: the dead letter of a delivery that failed for
// good, the DeadLetter event that carries it to a DLQ, and the
// DeadLetterRedriven event by which a DLQ sends one back to its target.
// The codec of a dead letter's detail is in actors/dead_letter.hpp.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "actors/dead_letter.hpp"
#include "actors/runtime/delivery.hpp"
#include "cluster/config.hpp"
#include "wire/envelope.hpp"

namespace troupe::runtime {

/// The source of a DLQ's DeadLetterRedriven events.
inline const std::string redrive_source = std::string("troupe.") + cluster::dlq_service;
/// The source of the stand-in for an event that could not be decoded (it
/// carries only the event's place, and cannot be redriven).
inline const std::string undecodable_source = "troupe.undecodable";

/// Sources only the runtime may use, as EventBridge keeps "aws." to itself.
bool reserved_source(const std::string& source);

/// A dead letter's detail: what an entry may hold besides its source,
/// detail-type and correlation-id.
std::size_t max_dead_letter_detail();

/// The dead letter of answer `a`, which failed for good; it goes to the
/// answer's own DLQ if it names one, else to `rule_dlq`.
dead_letter dead_letter_of(const answer& a, const std::string& rule_dlq, const std::string& node,
                           std::string exhausted);

/// The msgpack detail of `dl`'s DeadLetter event, within the limits every
/// event meets: its event's detail decoded to JSON, or, when that is too
/// large or too deep, kept as its bytes; nothing when even that does not fit.
std::optional<std::string> dead_letter_detail(const dead_letter& dl);

/// What a DLQ's DeadLetterRedriven event asks: the original event again, to
/// its rule's target. `event` fails when the event cannot be read back.
struct redrive_order {
  std::string rule, target, letter_id;
  result<wire::envelope> event;
};

/// Reads a DeadLetterRedriven event; nothing when it is not one.
std::optional<redrive_order> read_redrive(const wire::envelope& ev);

/// Why a redrive that reached this node is refused: its event unreadable,
/// a stand-in for an undecodable event, or its rule gone or retargeted
/// (`rule` is the config's rule of that name, or null). Nothing when it may go.
std::optional<std::string> redrive_refusal(const redrive_order& order, const cluster::rule_spec* rule);

/// The stand-in for event `seq` of stream `key` (epoch `epoch`), which
/// cannot be decoded here: its place, and an empty detail.
std::shared_ptr<wire::envelope> undecodable_stand_in(const stream_key& key, std::uint64_t epoch, std::uint64_t seq,
                                                     std::int64_t now_ms);

/// A permanent failure of `target`'s rule `rule` for `ev`, which did not
/// run: it goes to the DLQ with `error_code`.
answer failure_of(std::string target, std::string rule, event_ptr ev, const char* error_code, std::string why,
                  std::int64_t now_ms);

}  // namespace troupe::runtime
