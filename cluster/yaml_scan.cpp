#include "cluster/yaml_scan.hpp"

#include <sstream>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace troupe::cluster {

namespace {

// A path in a problem shows at most this much of one key, and of the whole.
constexpr std::size_t max_key_in_path = 40;
constexpr std::size_t max_path = 200;

class scanner final : public YAML::EventHandler {
 public:
  explicit scanner(diagnostics& diag) : diag_(diag) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    static const std::string null_key = "null";
    leaf(mark, &null_key);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { leaf(mark, nullptr); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string& value) override {
    leaf(mark, &value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    open(mark, false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    open(mark, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct frame {
    bool map = false;
    std::size_t items = 0;  // children added so far; in a map, keys and values
    std::string key;        // a map's current key, for paths
    std::unordered_map<std::string, int> first_line;  // a map's keys, by the line they first appear on
  };

  // A node begins: in a map, every other one is a key. `text` is a scalar
  // key's text, null for any other key.
  void begin(const YAML::Mark& mark, const std::string* text) {
    if (frames_.empty() || !frames_.back().map || frames_.back().items % 2 != 0)
      return;
    auto& map = frames_.back();
    map.key = text ? *text : "?";
    if (!text)
      return;
    auto [it, fresh] = map.first_line.emplace(*text, mark.line + 1);
    if (!fresh)
      diag_.add(mark, path_of(frames_.size() - 1) + ": duplicate key '" + shorten(*text) + "' (first on line "
                          + std::to_string(it->second) + ")");
  }

  // A node ends: its parent has one more child.
  void end() {
    if (!frames_.empty())
      ++frames_.back().items;
  }

  void leaf(const YAML::Mark& mark, const std::string* text) {
    begin(mark, text);
    end();
  }

  void open(const YAML::Mark& mark, bool map) {
    begin(mark, nullptr);
    frames_.push_back(frame{map, 0, {}, {}});
  }

  void close() {
    frames_.pop_back();
    end();
  }

  static std::string shorten(const std::string& s) {
    return s.size() <= max_key_in_path ? s : s.substr(0, max_key_in_path) + "...";
  }

  // The dotted path of the node being added to frames_[n - 1], as the
  // config's problems write it ("rules[0].pattern"); "config" for the root.
  std::string path_of(std::size_t n) const {
    std::string path;
    for (std::size_t i = 0; i < n && path.size() <= max_path; ++i) {
      const auto& f = frames_[i];
      if (f.map)
        path += (path.empty() ? "" : ".") + shorten(f.key);
      else
        path += "[" + std::to_string(f.items) + "]";
    }
    if (path.size() > max_path)
      path = path.substr(0, max_path) + "...";
    return path.empty() ? "config" : path;
  }

  diagnostics& diag_;
  std::vector<frame> frames_;
};

} // namespace

bool scan_yaml(const std::string& text, diagnostics& diag) {
  std::istringstream in(text);
  scanner events(diag);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(events)) {
    }
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, e.msg);
    return false;
  }
  return true;
}

} // namespace troupe::cluster
