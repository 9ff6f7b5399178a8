// A pass over yaml-cpp's parse events before it builds the config's nodes,
// for what yaml-cpp accepts silently: a key written twice in one map
// (yaml-cpp keeps both and a lookup finds the first).
//
// The pass is linear in the text and keeps no nodes.
#pragma once

#include <string>

#include "cluster/diagnostics.hpp"

namespace troupe::cluster {

/// Reports every problem the pass finds to `diag`; false when the text
/// must not be loaded at all (it is not YAML).
bool scan_yaml(const std::string& text, diagnostics& diag);

} // namespace troupe::cluster
