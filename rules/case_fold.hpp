// Case folding for `equals-ignore-case` and its prefix/suffix forms.
//
// Both the pattern and the event value are folded with Unicode *simple*
// case folding (one code point to one code point) and then compared as
// bytes. event-ruler instead tries the lower- or the upper-case form of each
// UTF-16 unit, which makes "ǅ" not match itself, "x😀" not match "X😀" and
// "STRASSE" match "straße"; troupe keeps the plain definition (see
// tests/rules/quirks_test.cpp). Invalid UTF-8 bytes are kept as they are, so
// folding never fails and never changes what it does not understand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::rules::detail {

struct fold_pair {
  std::uint32_t from;
  std::uint32_t to;
};

// Sorted by `from`; non-ASCII code points whose simple folding differs.
extern const fold_pair case_fold_pairs[];
extern const std::size_t case_fold_pair_count;

/// The simple case folding of one code point (itself when it has none).
std::uint32_t fold_code_point(std::uint32_t cp);

/// Replaces `out` with the folded form of `in`.
void fold_utf8(std::string_view in, std::string& out);

} // namespace troupe::rules::detail
