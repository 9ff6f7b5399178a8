// `troupe test-pattern`: EventBridge's TestEventPattern, offline.
#include <fstream>
#include <ostream>
#include <sstream>

#include "rules/json.hpp"
#include "rules/matcher.hpp"

namespace troupe::rules {

namespace {

// "@path" and "file://path" (as the AWS CLI takes it) read the file;
// anything else is the JSON text itself.
bool load_argument(const std::string& arg, const char* what, std::string& text, std::ostream& err) {
  constexpr std::string_view file = "file://";
  const bool at = !arg.empty() && arg[0] == '@';
  if (!at && arg.rfind(file, 0) != 0) {
    text = arg;
    return true;
  }
  const std::string path = arg.substr(at ? 1 : file.size());
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err << what << ": cannot read " << path << "\n";
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    err << what << ": cannot read " << path << "\n";
    return false;
  }
  text = buf.str();
  return true;
}

} // namespace

int run_test_pattern(const std::string& pattern_arg, const std::string& event_arg, std::ostream& out,
                     std::ostream& err) {
  std::string pattern, event;
  if (!load_argument(pattern_arg, "pattern", pattern, err) || !load_argument(event_arg, "event", event, err))
    return 2;
  matcher m;
  auto added = m.add("test-pattern", pattern);
  if (!added) {
    err << "invalid pattern: " << added.err().to_string() << "\n";
    return 2;
  }
  std::string why;
  auto doc = detail::parse_json(event, &why);
  if (!doc) {
    err << "invalid event JSON: " << why << "\n";
    return 2;
  }
  if (!doc->is(detail::json_value::kind::object)) {
    err << "the event must be a JSON object, not " << detail::describe(doc->type) << "\n";
    return 2;
  }
  std::string bytes;
  detail::write_msgpack(*doc, bytes);
  std::vector<std::size_t> hits;
  m.match_msgpack(bytes, hits);
  if (hits.empty()) {
    out << "no match\n";
    return 1;
  }
  out << "match\n";
  return 0;
}

} // namespace troupe::rules
