// A pass over yaml-cpp's parse events before it builds the config's nodes,
// for what yaml-cpp accepts silently: a key written twice in one map
// (yaml-cpp keeps both and a lookup finds the first), text that is not
// UTF-8, a second document (yaml-cpp reads the first only), and aliases
// that no walk over the nodes could finish.
//
// yaml-cpp shares an aliased node instead of copying it, so parsing nine
// levels of nine aliases each is cheap, but a walk over the result (turning
// a pattern into JSON) visits 9^9 nodes: the "billion laughs". The pass
// counts what aliases add, as a walk would see it, without expanding them,
// and refuses past a bound; it also refuses an alias inside the node it
// names, which makes a cycle no walk ends, and stops yaml-cpp where its
// parser no longer advances (it loops on some malformed input). It also
// bounds the nodes as written, which bounds what YAML::Load allocates. The
// pass is linear in the text and keeps no nodes.
#pragma once

#include <cstdint>
#include <string>

#include "cluster/diagnostics.hpp"

namespace troupe::cluster {

/// At most this many nodes may a config have as written (yaml-cpp takes a
/// few hundred bytes for each; a config of a few hundred lines has a few
/// thousand), and at most this many more may aliases add when expanded.
inline constexpr std::uint64_t max_nodes = 100000;
inline constexpr std::uint64_t max_alias_nodes = 100000;

/// Reports every problem the pass finds to `diag`; false when the text
/// must not be loaded at all (it is not YAML, or
/// its aliases expand past the bound or contain themselves).
bool scan_yaml(const std::string& text, diagnostics& diag);

} // namespace troupe::cluster
