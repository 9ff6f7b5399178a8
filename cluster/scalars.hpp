// Recognizers for the config's plain scalars: YAML core-schema numbers and
// the names the config allows.
//
// They are written by hand, not with std::regex: libstdc++'s regex recurses
// once per character matched and overflows the stack on a scalar of a few
// hundred kilobytes, which a config file may hold.
#pragma once

#include <string_view>

namespace troupe::cluster {

/// `[-+]?[0-9]+`
bool core_integer(std::string_view s);

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`: the core schema's
/// floats without .inf and .nan; integers match too.
bool core_float(std::string_view s);

/// A cluster name: one or more of A-Z, a-z, 0-9, '_', '.', '-'.
bool cluster_name(std::string_view s);

/// A node name: 1 to 32 of a-z, 0-9, '_', '-', starting with a letter.
bool node_name(std::string_view s);

} // namespace troupe::cluster
