// An event's detail (MessagePack) as JSON, for the services.
//
// nlohmann::json::from_msgpack reads its input a byte at a time, with an
// end-of-input check on each, and was the largest single cost of handing
// an event to a service (perf, single hop at 27,000 events/s: 13% of the
// consuming node's samples). msgpack-c parses the bytes in one pass and
// hands each value to a visitor that builds the JSON in place (building
// msgpack-c's own tree first and copying it was 9% of the consuming node's
// samples on the single hop at 74,000 events/s).
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace troupe {

/// The JSON value of `bytes`, exactly one MessagePack value, as
/// nlohmann::json::from_msgpack reads it: nil, booleans, numbers (unsigned
/// when not negative), strings, bin as binary, ext as binary with its type
/// as subtype, arrays, and maps with string keys (a repeated key keeps its
/// last value). Throws a std::exception on malformed or trailing bytes, on
/// a map key that is not a string, and past the wire's limits for a detail
/// (wire::read_limits: every detail a node takes has been held to them).
nlohmann::json json_from_msgpack(std::string_view bytes);

} // namespace troupe
