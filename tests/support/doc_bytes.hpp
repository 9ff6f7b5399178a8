// The byte examples of a Markdown page, so that a test holds the page to
// the code. An example is the fenced block after a line
// `<!-- bytes: NAME -->`; each of its lines is hex pairs separated by
// spaces, then optionally `#` and a comment:
//
//   <!-- bytes: status-request -->
//   ```
//   92              # array of 2: [version, verb]
//   01              # version 1
//   a6 73 74 61 74 75 73   # "status"
//   ```
#pragma once

#include <string>

namespace troupe::test {

/// One example: its bytes, or why there are none (no such example, or a
/// line that is not hex pairs before its comment).
struct doc_example {
  std::string bytes;
  std::string problem;
};

/// The example `name` of the Markdown text `page`.
doc_example doc_bytes(const std::string& page, const std::string& name);

/// The text of `relative` (e.g. "docs/PROTOCOL.md") under the source tree,
/// TROUPE_SOURCE_ROOT; throws std::runtime_error when that is not set or
/// the file cannot be read, so a test never passes on a missing page.
std::string read_source_file(const std::string& relative);

/// `bytes` as lowercase hex pairs separated by spaces, for messages.
std::string hex(const std::string& bytes);

} // namespace troupe::test
