#include "cluster/yaml_scan.hpp"

#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace troupe::cluster {

namespace {

// A path in a problem shows at most this much of one key, and of the whole.
constexpr std::size_t max_key_in_path = 40;
constexpr std::size_t max_path = 200;
// Far more node events at one position than any document has.
constexpr std::uint64_t max_events_at_one_place = 1000;

class scanner final : public YAML::EventHandler {
 public:
  // Thrown out of the parser to stop at a problem that makes loading unsafe.
  struct stop {};

  explicit scanner(diagnostics& diag) : diag_(diag) {}

  int documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_ > 0 && mark.pos == document_pos_)  // the parser starts the same document again
      stuck(mark);
    document_pos_ = mark.pos;
    if (++documents_ == 2)
      diag_.add(mark, "a second YAML document: a config is one document, and the rest would be ignored");
    anchors_.clear();
  }

  void OnDocumentEnd() override {}

  void OnAnchor(const YAML::Mark&, const std::string& name) override { anchor_name_ = name; }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    static const std::string null_key = "null";
    leaf(mark, anchor, &null_key);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    leaf(mark, anchor, &value);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = anchors_.find(anchor);
    if (it == anchors_.end())  // yaml-cpp refuses an unknown alias before this
      return;
    const auto& named = it->second;
    if (named.open) {
      diag_.add(mark, path_of(frames_.size()) + ": alias '*" + shorten(named.name)
                          + "' is inside the node it names, a cycle");
      throw stop{};
    }
    begin(mark, named.scalar ? &*named.scalar : nullptr);
    ++literal_;
    nodes_ += named.size;
    if (nodes_ - literal_ > max_alias_nodes) {
      diag_.add(mark, path_of(frames_.size()) + ": alias '*" + shorten(named.name)
                          + "' takes the nodes that aliases add past " + std::to_string(max_alias_nodes)
                          + ", the limit");
      throw stop{};
    }
    end();
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct frame {
    bool map = false;
    YAML::anchor_t anchor = 0;
    std::uint64_t nodes_before = 0;  // nodes_ before this one began
    std::size_t items = 0;  // children added so far; in a map, keys and values
    std::string key;        // a map's current key, for paths
    std::unordered_map<std::string, int> first_line;  // a map's keys, by the line they first appear on
  };

  // A node begins: in a map, every other one is a key. `text` is a scalar
  // key's text, null for any other key.
  void begin(const YAML::Mark& mark, const std::string* text) {
    progress(mark);
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

  // Counts the nodes as written. yaml-cpp 0.7 loops forever on some
  // malformed input, repeating events without reading on (YAML::Load then
  // fills the memory); a document never has many nodes at one place.
  void progress(const YAML::Mark& mark) {
    if (mark.pos == last_pos_) {
      ++events_here_;
    } else {
      last_pos_ = mark.pos;
      events_here_ = 0;
    }
    if (events_here_ > max_events_at_one_place)
      stuck(mark);
    if (++events_ > max_nodes) {
      diag_.add(mark, "the config has more than " + std::to_string(max_nodes) + " nodes, the limit");
      throw stop{};
    }
  }

  [[noreturn]] void stuck(const YAML::Mark& mark) {
    diag_.add(mark, "the YAML parser stops advancing here: the text is malformed");
    throw stop{};
  }

  // A node ends: its parent has one more child.
  void end() {
    if (!frames_.empty())
      ++frames_.back().items;
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string* text) {
    begin(mark, text);
    if (text && !valid_utf8(*text))
      diag_.add(mark, path_of(frames_.size()) + ": not UTF-8 text");
    ++literal_;
    ++nodes_;
    if (anchor)
      anchors_[anchor] = named{take_anchor_name(), false, 1, text ? std::optional<std::string>(*text) : std::nullopt};
    end();
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    begin(mark, nullptr);
    frame f;
    f.map = map;
    f.anchor = anchor;
    f.nodes_before = nodes_;
    ++literal_;
    ++nodes_;
    if (anchor)
      anchors_[anchor] = named{take_anchor_name(), true, 0, std::nullopt};
    frames_.push_back(std::move(f));
  }

  void close() {
    const auto& f = frames_.back();
    if (f.anchor) {
      auto& a = anchors_[f.anchor];
      a.open = false;
      a.size = nodes_ - f.nodes_before;
    }
    frames_.pop_back();
    end();
  }

  std::string take_anchor_name() {
    std::string name;
    name.swap(anchor_name_);
    return name;
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

  // An anchored node, for the aliases that name it.
  struct named {
    std::string name;
    bool open = false;                  // still being parsed: an alias to it is a cycle
    std::uint64_t size = 0;             // nodes a walk visits through an alias to it
    std::optional<std::string> scalar;  // its text, when it is a scalar (a key may be an alias)
  };

  diagnostics& diag_;
  std::vector<frame> frames_;
  std::unordered_map<YAML::anchor_t, named> anchors_;
  std::string anchor_name_;  // from OnAnchor, for the node event that follows
  // Nodes written in the text, and nodes a walk would visit: the two differ
  // by what aliases add. Counting stops at the first past the bound, so
  // neither overflows.
  std::uint64_t literal_ = 0, nodes_ = 0;
  int documents_ = 0;
  int document_pos_ = -1;
  std::uint64_t events_ = 0, events_here_ = 0;
  int last_pos_ = -1;
};

} // namespace

bool scan_yaml(const std::string& text, diagnostics& diag) {
  std::istringstream in(text);
  scanner events(diag);
  try {
    YAML::Parser parser(in);
    // The first document is the config; the second is a problem, and the
    // rest need not be read.
    while (events.documents() < 2 && parser.HandleNextDocument(events)) {
    }
  } catch (const scanner::stop&) {
    return false;
  } catch (const YAML::DeepRecursion& e) {
    diag.add(e.mark, "nested deeper than " + std::to_string(e.depth() - 1) + " levels");
    return false;
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, e.msg);
    return false;
  }
  return true;
}

} // namespace troupe::cluster
