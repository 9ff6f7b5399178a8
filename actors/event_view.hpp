// The matcher's view of an envelope: its fields, with `detail` left as the
// MessagePack bytes it came in (the matcher reads them without decoding to
// JSON).
#pragma once

#include "rules/matcher.hpp"
#include "wire/envelope.hpp"

namespace troupe {

inline rules::event_view view_of(const wire::envelope& e) {
  rules::event_view view;
  view.id = e.id;
  view.source = e.source;
  view.detail_type = e.detail_type;
  view.time_ms = e.time_ms;
  view.resources = &e.resources;
  view.detail = e.detail;
  return view;
}

} // namespace troupe
