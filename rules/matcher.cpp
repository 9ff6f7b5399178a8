#include "rules/matcher.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>

#include "rules/pattern.hpp"
#include "rules/value_index.hpp"

namespace troupe::rules {

namespace detail {

struct rule_spec {
  std::string name;
  rule_pattern pattern;
};

namespace {

constexpr std::uint32_t none = 0xFFFFFFFFu;

// An index id with this bit names a rule directly: a value test filed for a
// condition lists every rule that condition decides alone (their whole
// alternative), so a hit marks them without looking the condition up; the
// condition itself is listed only when it is part of larger alternatives.
constexpr std::uint32_t rule_tag = 0x80000000u;

/// (parent node, key segment) → child node, one table for the whole trie.
class child_table {
 public:
  void add(std::uint32_t parent, std::string_view segment, std::uint32_t child) {
    pending_.push_back({parent, std::string(segment), child});
  }

  void finish() {
    std::size_t capacity = 8;
    while (capacity < 2 * pending_.size())
      capacity *= 2;
    slots_.assign(capacity, slot{});
    mask_ = capacity - 1;
    for (const auto& p : pending_) {
      slot s;
      s.hash = hash_bytes(p.segment.data(), p.segment.size(), p.parent);
      s.parent = p.parent;
      s.off = static_cast<std::uint32_t>(segments_.size());
      s.len = static_cast<std::uint32_t>(p.segment.size());
      s.child = p.child;
      segments_ += p.segment;
      std::size_t i = s.hash & mask_;
      while (slots_[i].child != none)
        i = (i + 1) & mask_;
      slots_[i] = s;
    }
    pending_.clear();
  }

  std::uint32_t find(std::uint32_t parent, std::string_view segment) const {
    const std::uint64_t h = hash_bytes(segment.data(), segment.size(), parent);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.child == none)
        return none;
      if (s.hash == h && s.parent == parent && s.len == segment.size() &&
          same_bytes(segments_.data() + s.off, segment.data(), segment.size()))
        return s.child;
    }
  }

 private:
  struct slot {
    std::uint64_t hash = 0;
    std::uint32_t parent = 0, off = 0, len = 0, child = none;
  };
  struct entry {
    std::uint32_t parent;
    std::string segment;
    std::uint32_t child;
  };
  std::vector<slot> slots_;
  std::size_t mask_ = 0;
  std::string segments_;
  std::vector<entry> pending_;
};

std::atomic<std::uint64_t> next_compiled_id{1};

} // namespace

// The matching structure. Vocabulary: a *condition* is one field test (a
// path and its alternative values), shared by every rule alternative that
// has the same test; a *sub* is one rule alternative: conditions that must
// all hold and *negatives* (exists:false paths) that must have no value; a
// *group* is one anything-but test inside a condition.
struct compiled {
  std::uint64_t id = 0;

  struct node {
    std::uint32_t field = none;
    bool has_children = false;
    bool tracks_arrays = false;  // some field at or below needs array positions
    std::uint64_t key_filter = 0;  // bit key_bit(segment) set for each child
  };
  std::vector<node> nodes;  // 0 is the root
  child_table children;

  struct field {
    value_index positive;  // ids: rules (rule_tag) and conditions
    value_index excluded;  // ids: groups (anything-but exclusions)
    std::vector<std::uint32_t> groups;
    std::uint32_t negative = none;
  };
  std::vector<field> fields;
  // Per anything-but group: the index ids its condition stands for.
  std::vector<std::uint32_t> group_ids_offset, group_ids;

  // Per condition: the alternatives with other tests it takes part in.
  struct condition {
    std::uint32_t subs = 0;  // offset into condition_subs
    std::uint32_t sub_count = 0;
  };
  std::vector<condition> conditions;
  std::vector<std::uint32_t> condition_subs;

  struct sub {
    std::uint32_t rule = 0;
    std::uint32_t conditions_offset = 0, conditions = 0;
    std::uint32_t negatives_offset = 0, negatives = 0;
    bool simple = false;  // one condition, no negative: its hit is a match
  };
  std::vector<sub> subs;
  std::vector<std::uint32_t> sub_conditions, sub_negatives;
  std::vector<std::uint32_t> negative_only_subs;
  std::size_t negative_count = 0;
  std::size_t rule_count = 0;

  // Per node its parent (the root is its own), and per rule the nodes of
  // the fields it tests or needs absent: an event nested past
  // max_event_depth at a node fails the rules that look there or below,
  // and only those (run::decide).
  std::vector<std::uint32_t> parents;
  std::vector<std::uint32_t> rule_nodes_offset{0}, rule_nodes;

  // Trie nodes of the envelope fields, for match(event_view).
  std::uint32_t top_id = none, top_source = none, top_detail_type = none, top_time = none,
                top_resources = none, top_detail = none;
};

namespace {

// One of 64 bits for a key segment: a node whose children set no such bit
// for an event key cannot have that key, and the lookup is skipped.
inline unsigned key_bit(std::string_view k) {
  if (k.empty())
    return 0;
  return static_cast<unsigned>(k.size() * 7 + static_cast<unsigned char>(k.front()) * 3 +
                               static_cast<unsigned char>(k.back())) & 63;
}

// Whether a word holds a '.' byte (the classic has-zero-byte trick on x ^ '.').
inline bool word_has_dot(std::uint64_t x) {
  constexpr std::uint64_t dots = 0x2E2E2E2E2E2E2E2Eull, ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  x ^= dots;
  return ((x - ones) & ~x & highs) != 0;
}

inline bool has_dot(std::string_view k) {
  const char* p = k.data();
  const std::size_t n = k.size();
  if (n >= 8) {
    // Whole words, the last one overlapping the one before.
    for (std::size_t i = 0; i + 8 < n; i += 8)
      if (word_has_dot(load64(p + i)))
        return true;
    return word_has_dot(load64(p + n - 8));
  }
  if (n >= 4) {
    const std::uint64_t x = load32(p) | (load32(p + n - 4) << 32);
    return word_has_dot(x);
  }
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] == '.')
      return true;
  return false;
}

/// Compiles rules into a `compiled` matcher, one phase at a time: the
/// tree of field paths and each alternative's conditions, which rules and
/// subs each condition decides, the fields' value indexes, which nodes
/// track array positions, and the tree's children.
class builder {
public:
  explicit builder(const std::vector<rule_spec>& rules) : rules_(rules), c_(std::make_unique<compiled>()) {
    c_->id = next_compiled_id.fetch_add(1);
    c_->rule_count = rules.size();
    c_->nodes.emplace_back();
  }

  std::unique_ptr<compiled> run() {
    add_alternatives();
    index_conditions();
    index_fields();
    mark_array_tracking();
    link_children();
    c_->parents = parent_;
    return std::move(c_);
  }

private:
  /// The node of a dotted path, made as needed.
  std::uint32_t intern(const std::string& path) {
    std::uint32_t cur = 0;
    std::size_t start = 0;
    for (;;) {
      const std::size_t dot = path.find('.', start);
      const std::string segment = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      auto [it, fresh] = child_of_.emplace(std::make_pair(cur, segment), static_cast<std::uint32_t>(c_->nodes.size()));
      if (fresh) {
        c_->nodes[cur].has_children = true;
        c_->nodes.emplace_back();
        parent_.push_back(cur);
      }
      cur = it->second;
      if (dot == std::string::npos)
        return cur;
      start = dot + 1;
    }
  }

  std::uint32_t field_of(std::uint32_t node) {
    if (c_->nodes[node].field == none) {
      c_->nodes[node].field = static_cast<std::uint32_t>(c_->fields.size());
      c_->fields.emplace_back();
    }
    return c_->nodes[node].field;
  }

  /// Each rule's alternatives as subs: their conditions (one per distinct
  /// field test) and the fields they need absent.
  void add_alternatives() {
    for (std::uint32_t r = 0; r < rules_.size(); ++r) {
      for (const alternative& alt : rules_[r].pattern.alternatives) {
        compiled::sub s;
        s.rule = r;
        s.conditions_offset = static_cast<std::uint32_t>(c_->sub_conditions.size());
        for (const field_test& f : alt.fields) {
          const std::uint32_t fid = field_of(intern(f.path));
          auto [it, fresh] = condition_of_.emplace(f.identity, static_cast<std::uint32_t>(condition_test_.size()));
          if (fresh) {
            condition_test_.push_back(&f);
            condition_field_.push_back(fid);
          }
          c_->sub_conditions.push_back(it->second);
        }
        s.conditions = static_cast<std::uint32_t>(alt.fields.size());
        s.negatives_offset = static_cast<std::uint32_t>(c_->sub_negatives.size());
        for (const std::string& path : alt.absent) {
          auto& fd = c_->fields[field_of(intern(path))];
          if (fd.negative == none)
            fd.negative = static_cast<std::uint32_t>(c_->negative_count++);
          c_->sub_negatives.push_back(fd.negative);
        }
        s.negatives = static_cast<std::uint32_t>(alt.absent.size());
        s.simple = s.conditions == 1 && s.negatives == 0;
        if (s.conditions == 0)
          c_->negative_only_subs.push_back(static_cast<std::uint32_t>(c_->subs.size()));
        c_->subs.push_back(s);
        for (const field_test& f : alt.fields)
          c_->rule_nodes.push_back(intern(f.path));
        for (const std::string& path : alt.absent)
          c_->rule_nodes.push_back(intern(path));
      }
      c_->rule_nodes_offset.push_back(static_cast<std::uint32_t>(c_->rule_nodes.size()));
    }
  }

  /// Condition → the rules it decides alone, and the subs it is part of;
  /// the latter must remember where in arrays they hit.
  void index_conditions() {
    const std::size_t conditions = condition_test_.size();
    std::vector<std::vector<std::uint32_t>> rules_of(conditions), subs_of(conditions);
    for (std::uint32_t si = 0; si < c_->subs.size(); ++si) {
      const auto& s = c_->subs[si];
      for (std::uint32_t k = 0; k < s.conditions; ++k) {
        const std::uint32_t cond = c_->sub_conditions[s.conditions_offset + k];
        if (s.simple)
          rules_of[cond].push_back(s.rule);
        else
          subs_of[cond].push_back(si);
      }
    }
    c_->conditions.resize(conditions);
    ids_of_.assign(conditions, {});
    for (std::size_t cond = 0; cond < conditions; ++cond) {
      auto& ids = ids_of_[cond];
      for (std::uint32_t r : rules_of[cond])
        ids.push_back(r | rule_tag);
      if (!subs_of[cond].empty())
        ids.push_back(static_cast<std::uint32_t>(cond));
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      auto& ci = c_->conditions[cond];
      ci.subs = static_cast<std::uint32_t>(c_->condition_subs.size());
      ci.sub_count = static_cast<std::uint32_t>(subs_of[cond].size());
      c_->condition_subs.insert(c_->condition_subs.end(), subs_of[cond].begin(), subs_of[cond].end());
    }
  }

  /// Each field's indexes: the values that decide its conditions, and the
  /// values each anything-but group excludes.
  void index_fields() {
    c_->group_ids_offset.push_back(0);
    for (std::uint32_t cond = 0; cond < condition_test_.size(); ++cond) {
      auto& fd = c_->fields[condition_field_[cond]];
      for (const value_test& t : condition_test_[cond]->values) {
        if (t.kind == test_kind::anything_but) {
          const auto g = static_cast<std::uint32_t>(c_->group_ids_offset.size() - 1);
          c_->group_ids.insert(c_->group_ids.end(), ids_of_[cond].begin(), ids_of_[cond].end());
          c_->group_ids_offset.push_back(static_cast<std::uint32_t>(c_->group_ids.size()));
          fd.groups.push_back(g);
          for (const value_test& e : t.excluded)
            fd.excluded.add(e, g);
        } else {
          for (std::uint32_t id : ids_of_[cond])
            fd.positive.add(t, id);
        }
      }
    }
    for (auto& fd : c_->fields) {
      fd.positive.finish();
      fd.excluded.finish();
    }
  }

  /// A node tracks array positions when a field at or below it needs them;
  /// children always come after their parent, so one backward pass does.
  void mark_array_tracking() {
    std::vector<std::uint8_t> field_tracks(c_->fields.size(), 0);
    for (std::uint32_t cond = 0; cond < condition_test_.size(); ++cond)
      if (c_->conditions[cond].sub_count != 0)
        field_tracks[condition_field_[cond]] = 1;
    for (std::size_t f = 0; f < c_->fields.size(); ++f)
      if (c_->fields[f].negative != none)
        field_tracks[f] = 1;
    for (std::size_t n = c_->nodes.size(); n-- > 1;) {
      auto& nd = c_->nodes[n];
      if (nd.field != none && field_tracks[nd.field])
        nd.tracks_arrays = true;
      if (nd.tracks_arrays)
        c_->nodes[parent_[n]].tracks_arrays = true;
    }
  }

  /// The tree's children by key, and the top-level fields' nodes.
  void link_children() {
    for (const auto& [key, child] : child_of_) {
      c_->children.add(key.first, key.second, child);
      c_->nodes[key.first].key_filter |= std::uint64_t{1} << key_bit(key.second);
    }
    c_->children.finish();
    auto top = [&](const char* name) {
      auto it = child_of_.find(std::make_pair(0u, std::string(name)));
      return it == child_of_.end() ? none : it->second;
    };
    c_->top_id = top("id");
    c_->top_source = top("source");
    c_->top_detail_type = top("detail-type");
    c_->top_time = top("time");
    c_->top_resources = top("resources");
    c_->top_detail = top("detail");
  }

  const std::vector<rule_spec>& rules_;
  std::unique_ptr<compiled> c_;
  std::vector<std::uint32_t> parent_{0};
  std::map<std::pair<std::uint32_t, std::string>, std::uint32_t> child_of_;
  std::map<std::string, std::uint32_t> condition_of_;
  std::vector<const field_test*> condition_test_;
  std::vector<std::uint32_t> condition_field_;
  std::vector<std::vector<std::uint32_t>> ids_of_;
};

std::unique_ptr<compiled> build(const std::vector<rule_spec>& rules) { return builder(rules).run(); }

// Per-thread working memory for one compiled matcher. Stamps (`epoch`)
// mark what belongs to the current event, so nothing is cleared per event.
struct scratch {
  std::uint64_t owner = 0;
  std::uint32_t epoch = 0;
  std::uint32_t leaf_stamp = 0;

  struct condition_state {
    std::uint32_t epoch = 0, head = none;
    bool at_top = false;  // hit by a value outside every array
  };
  struct sub_state {
    std::uint32_t epoch = 0, count = 0;
  };
  struct negative_state {
    std::uint32_t epoch = 0, head = none;
  };
  // A position: one element of one array, inside its parent position.
  struct position {
    std::uint32_t parent, array, depth;
  };
  struct record {
    std::uint32_t position, next;
  };

  std::vector<condition_state> conditions;
  std::vector<sub_state> subs;
  std::vector<negative_state> negatives;
  std::vector<std::uint32_t> group_stamp;
  // Rules matched by the current event: a bit each, a summary bit per
  // word of those (both zero between events), and the list of them.
  std::vector<std::uint64_t> rule_bits, rule_words;
  std::vector<position> positions;
  std::vector<record> records;
  std::vector<std::uint32_t> hits, candidates;
  // Each rule is marked at most once per event, so the list of marked
  // rules fits in `rule_count` slots and is filled without capacity checks.
  std::vector<std::uint32_t> matched;
  std::size_t matched_count = 0;
  std::uint32_t arrays = 0;
  leaf_cache cache;
  decimal number;
  char digits[24];
  std::string time_text;
  // array-consistency search
  std::vector<std::uint32_t> slot_positions, slot_offsets, order, assigned, negative_positions;
  std::size_t steps = 0;

  void prepare(const compiled& c) {
    owner = c.id;
    epoch = 0;
    leaf_stamp = 0;
    conditions.assign(c.conditions.size(), condition_state{});
    subs.assign(c.subs.size(), sub_state{});
    negatives.assign(c.negative_count, negative_state{});
    rule_bits.assign((c.rule_count + 63) / 64, 0);
    rule_words.assign((rule_bits.size() + 63) / 64, 0);
    matched.assign(c.rule_count, 0);
    matched_count = 0;
    group_stamp.assign(c.group_ids_offset.size() - 1, 0);
  }

  void next_epoch() {
    if (++epoch == 0) {
      // Wrapped after 4 billion events: forget every stamp once.
      for (auto& s : conditions)
        s.epoch = 0;
      for (auto& s : subs)
        s.epoch = 0;
      for (auto& s : negatives)
        s.epoch = 0;
      epoch = 1;
    }
    // A previous event that stopped early may have left marks.
    for (std::size_t k = 0; k < matched_count; ++k) {
      rule_bits[matched[k] / 64] = 0;
      rule_words[matched[k] / 4096] = 0;
    }
    matched_count = 0;
    positions.clear();
    positions.push_back(position{0, 0, 0});
    records.clear();
    hits.clear();
    candidates.clear();
    arrays = 0;
  }

  std::uint32_t next_leaf_stamp() {
    if (++leaf_stamp == 0) {
      std::fill(group_stamp.begin(), group_stamp.end(), 0);
      leaf_stamp = 1;
    }
    return leaf_stamp;
  }
};

scratch& scratch_for(const compiled& c) {
  // A few per thread, so that a thread alternating between matchers does
  // not rebuild its scratch space for every event.
  thread_local std::vector<std::unique_ptr<scratch>> cache;
  for (auto& s : cache)
    if (s->owner == c.id)
      return *s;
  if (cache.size() < 4) {
    cache.push_back(std::make_unique<scratch>());
  } else {
    std::rotate(cache.begin(), cache.end() - 1, cache.end());
  }
  scratch& s = *cache.back();
  s.prepare(c);
  return s;
}

// ---------------------------------------------------------------------------
// MessagePack reading. Every read checks the bytes left first.

struct cursor {
  const unsigned char* p;
  const unsigned char* end;
  std::size_t left() const { return static_cast<std::size_t>(end - p); }
};

inline std::uint16_t be16(const unsigned char* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
inline std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline std::uint64_t be64(const unsigned char* p) { return (std::uint64_t{be32(p)} << 32) | be32(p + 4); }

struct header {
  enum class kind : std::uint8_t { nil, is_true, is_false, i64, u64, f64, str, bin, ext, array, map };
  kind type = kind::nil;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double f = 0;
  const char* data = nullptr;
  std::uint32_t n = 0;  // bytes of str/bin/ext, elements of array, pairs of map
  std::int8_t ext = 0;
};

// Reads one header; scalars are read whole, str/bin/ext bodies are
// referenced and stepped over, containers stop after their header.
/// A value's body of `len` bytes at the cursor, as a `k` header.
bool read_body(cursor& c, header& h, header::kind k, std::uint32_t len) {
  if (c.left() < len)
    return false;
  h.type = k;
  h.n = len;
  h.data = reinterpret_cast<const char*>(c.p);
  c.p += len;
  return true;
}

/// The numbers after their tag `b` (0xCA to 0xD3): floats, uints and ints.
bool read_number(unsigned b, cursor& c, header& h) {
  auto need = [&](std::size_t n) { return c.left() >= n; };
  switch (b) {
    case 0xCA: {
      if (!need(4)) return false;
      const std::uint32_t bits = be32(c.p);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      c.p += 4;
      h.type = header::kind::f64;
      h.f = f;
      return true;
    }
    case 0xCB: {
      if (!need(8)) return false;
      const std::uint64_t bits = be64(c.p);
      std::memcpy(&h.f, &bits, sizeof h.f);
      c.p += 8;
      h.type = header::kind::f64;
      return true;
    }
    case 0xCC:
      if (!need(1)) return false;
      h.type = header::kind::i64, h.i = c.p[0], c.p += 1;
      return true;
    case 0xCD:
      if (!need(2)) return false;
      h.type = header::kind::i64, h.i = be16(c.p), c.p += 2;
      return true;
    case 0xCE:
      if (!need(4)) return false;
      h.type = header::kind::i64, h.i = be32(c.p), c.p += 4;
      return true;
    case 0xCF:
      if (!need(8)) return false;
      h.u = be64(c.p), c.p += 8;
      if (h.u <= static_cast<std::uint64_t>(INT64_MAX)) {
        h.type = header::kind::i64;
        h.i = static_cast<std::int64_t>(h.u);
      } else {
        h.type = header::kind::u64;
      }
      return true;
    case 0xD0:
      if (!need(1)) return false;
      h.type = header::kind::i64, h.i = static_cast<std::int8_t>(c.p[0]), c.p += 1;
      return true;
    case 0xD1:
      if (!need(2)) return false;
      h.type = header::kind::i64, h.i = static_cast<std::int16_t>(be16(c.p)), c.p += 2;
      return true;
    case 0xD2:
      if (!need(4)) return false;
      h.type = header::kind::i64, h.i = static_cast<std::int32_t>(be32(c.p)), c.p += 4;
      return true;
    case 0xD3:
      if (!need(8)) return false;
      h.type = header::kind::i64, h.i = static_cast<std::int64_t>(be64(c.p)), c.p += 8;
      return true;
    default:
      return false;
  }
}

/// The strings, binaries, extensions, arrays and maps with a length after
/// their tag `b` (0xC4 to 0xC9, 0xD4 to 0xDF).
bool read_sized(unsigned b, cursor& c, header& h) {
  auto need = [&](std::size_t n) { return c.left() >= n; };
  auto body = [&](header::kind k, std::uint32_t len) { return read_body(c, h, k, len); };
  switch (b) {
    case 0xC4:
      if (!need(1)) return false;
      c.p += 1;
      return body(header::kind::bin, c.p[-1]);
    case 0xC5:
      if (!need(2)) return false;
      c.p += 2;
      return body(header::kind::bin, be16(c.p - 2));
    case 0xC6:
      if (!need(4)) return false;
      c.p += 4;
      return body(header::kind::bin, be32(c.p - 4));
    case 0xC7:
      if (!need(2)) return false;
      h.ext = static_cast<std::int8_t>(c.p[1]);
      c.p += 2;
      return body(header::kind::ext, c.p[-2]);
    case 0xC8:
      if (!need(3)) return false;
      h.ext = static_cast<std::int8_t>(c.p[2]);
      c.p += 3;
      return body(header::kind::ext, be16(c.p - 3));
    case 0xC9:
      if (!need(5)) return false;
      h.ext = static_cast<std::int8_t>(c.p[4]);
      c.p += 5;
      return body(header::kind::ext, be32(c.p - 5));
    case 0xD4: case 0xD5: case 0xD6: case 0xD7: case 0xD8: {
      const std::uint32_t len = 1u << (b - 0xD4);
      if (!need(1)) return false;
      h.ext = static_cast<std::int8_t>(c.p[0]);
      c.p += 1;
      return body(header::kind::ext, len);
    }
    case 0xD9:
      if (!need(1)) return false;
      c.p += 1;
      return body(header::kind::str, c.p[-1]);
    case 0xDA:
      if (!need(2)) return false;
      c.p += 2;
      return body(header::kind::str, be16(c.p - 2));
    case 0xDB:
      if (!need(4)) return false;
      c.p += 4;
      return body(header::kind::str, be32(c.p - 4));
    case 0xDC:
      if (!need(2)) return false;
      h.type = header::kind::array, h.n = be16(c.p), c.p += 2;
      return true;
    case 0xDD:
      if (!need(4)) return false;
      h.type = header::kind::array, h.n = be32(c.p), c.p += 4;
      return true;
    case 0xDE:
      if (!need(2)) return false;
      h.type = header::kind::map, h.n = be16(c.p), c.p += 2;
      return true;
    case 0xDF:
      if (!need(4)) return false;
      h.type = header::kind::map, h.n = be32(c.p), c.p += 4;
      return true;
    default:
      return false;
  }
}

bool read_header(cursor& c, header& h) {
  if (c.p >= c.end)
    return false;
  const unsigned b = *c.p++;
  if (b <= 0x7F || b >= 0xE0) {  // positive and negative fixint
    h.type = header::kind::i64;
    h.i = b <= 0x7F ? static_cast<std::int64_t>(b) : static_cast<std::int64_t>(static_cast<std::int8_t>(b));
    return true;
  }
  if (b <= 0x8F) {
    h.type = header::kind::map;
    h.n = b & 0x0F;
    return true;
  }
  if (b <= 0x9F) {
    h.type = header::kind::array;
    h.n = b & 0x0F;
    return true;
  }
  if (b <= 0xBF)
    return read_body(c, h, header::kind::str, b & 0x1F);
  switch (b) {
    case 0xC0: h.type = header::kind::nil; return true;
    case 0xC2: h.type = header::kind::is_false; return true;
    case 0xC3: h.type = header::kind::is_true; return true;
    default: break;
  }
  if (b >= 0xCA && b <= 0xD3)
    return read_number(b, c, h);
  return read_sized(b, c, h);  // 0xC1 is never used: refused there
}

// Steps over `n` values without recursion: containers add their elements
// to the count. Every value takes at least one byte, so the loop ends within
// the bytes given, and a count above the bytes left is refused at once.
/// For a tag `b` from 0xC0 on, with `left` bytes after it at `p`: how many
/// bytes the value takes after its tag (`len`) and how many elements a
/// container adds (`more`); false for a header cut short or a tag never used.
inline bool tagged_span(unsigned b, const unsigned char* p, std::size_t left, std::size_t& len, std::uint64_t& more) {
  more = 0;
  switch (b) {
    case 0xC0: case 0xC2: case 0xC3: len = 0; break;
    case 0xCC: case 0xD0: len = 1; break;
    case 0xCD: case 0xD1: len = 2; break;
    case 0xCA: case 0xCE: case 0xD2: len = 4; break;
    case 0xCF: case 0xD3: len = 8; break;
    case 0xD4: len = 2; break;
    case 0xD5: len = 3; break;
    case 0xD6: len = 5; break;
    case 0xD7: len = 9; break;
    case 0xD8: len = 17; break;
    case 0xC4: case 0xD9:
      if (left < 1) return false;
      len = 1 + std::size_t{p[0]};
      break;
    case 0xC5: case 0xDA:
      if (left < 2) return false;
      len = 2 + std::size_t{be16(p)};
      break;
    case 0xC6: case 0xDB:
      if (left < 4) return false;
      len = 4 + std::size_t{be32(p)};
      break;
    case 0xC7:
      if (left < 2) return false;
      len = 2 + std::size_t{p[0]};
      break;
    case 0xC8:
      if (left < 3) return false;
      len = 3 + std::size_t{be16(p)};
      break;
    case 0xC9:
      if (left < 5) return false;
      len = 5 + std::size_t{be32(p)};
      break;
    case 0xDC:
      if (left < 2) return false;
      more = be16(p), len = 2;
      break;
    case 0xDD:
      if (left < 4) return false;
      more = be32(p), len = 4;
      break;
    case 0xDE:
      if (left < 2) return false;
      more = 2 * std::uint64_t{be16(p)}, len = 2;
      break;
    case 0xDF:
      if (left < 4) return false;
      more = 2 * std::uint64_t{be32(p)}, len = 4;
      break;
    default:
      return false;
  }
  return true;
}

bool skip(cursor& c, std::uint64_t n) {
  const unsigned char* p = c.p;
  const unsigned char* const end = c.end;
  while (n > 0) {
    if (p >= end)
      return false;
    const unsigned b = *p++;
    --n;
    if (b == 0xCB) {
      // float64, and GeoJSON-like runs of them: the common bulk of events.
      if (end - p < 8)
        return false;
      p += 8;
      while (n > 0 && end - p >= 9 && *p == 0xCB) {
        p += 9;
        --n;
      }
      continue;
    }
    if (b <= 0x7F || b >= 0xE0)
      continue;
    if (b <= 0x9F) {
      n += b <= 0x8F ? 2 * (b & 0x0F) : (b & 0x0F);
      if (n > static_cast<std::uint64_t>(end - p))
        return false;
      continue;
    }
    std::size_t len;
    if (b <= 0xBF) {
      len = b & 0x1F;
    } else {
      const std::size_t left = static_cast<std::size_t>(end - p);
      std::uint64_t more = 0;  // container elements
      if (!tagged_span(b, p, left, len, more))
        return false;
      n += more;
      if (more != 0 && n > left - len)
        return false;
    }
    if (static_cast<std::size_t>(end - p) < len)
      return false;
    p += len;
  }
  c.p = p;
  return true;
}

bool is_map_byte(unsigned char b) { return (b >= 0x80 && b <= 0x8F) || b == 0xDE || b == 0xDF; }

void format_time(std::int64_t ms, std::string& out) {
  // Floor division, so times before 1970 round down like gmtime does.
  std::int64_t secs = ms / 1000;
  if (ms % 1000 < 0)
    --secs;
  std::int64_t days = secs / 86400;
  std::int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    --days;
  }
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                              static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                              static_cast<long long>(sod / 3600), static_cast<long long>(sod / 60 % 60),
                              static_cast<long long>(sod % 60));
  out.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

// ---------------------------------------------------------------------------
// One event through one compiled matcher.

class run {
 public:
  run(const compiled& c, scratch& s) : c_(c), s_(s) { s_.next_epoch(); }

  // The walk: false when the bytes are malformed or beyond the limits.
  bool value(cursor& cur, std::uint32_t node, std::uint32_t pos, std::size_t depth) {
    header h;
    if (!read_header(cur, h))
      return false;
    const compiled::node& nd = c_.nodes[node];
    switch (h.type) {
      case header::kind::map:
        if (!nd.has_children)
          return skip(cur, 2 * std::uint64_t{h.n});
        if (depth >= limits::max_event_depth)
          return too_deep(cur, node, 2 * std::uint64_t{h.n});
        return map_body(cur, node, h.n, pos, depth + 1);
      case header::kind::array: {
        if (h.n > limits::max_event_array || h.n > cur.left())
          return false;
        if (depth >= limits::max_event_depth)
          return too_deep(cur, node, h.n);
        if (!nd.tracks_arrays) {
          for (std::uint32_t k = 0; k < h.n; ++k)
            if (!value(cur, node, pos, depth + 1))
              return false;
          return true;
        }
        const std::uint32_t array = ++s_.arrays;
        for (std::uint32_t k = 0; k < h.n; ++k)
          if (!value(cur, node, element(pos, array), depth + 1))
            return false;
        return true;
      }
      default:
        if (nd.field != none)
          return scalar(nd.field, h, pos);
        return true;
    }
  }

  // Nesting past the limit at `node`: stepped over, bounds-checked, as a
  // subtree no rule names is, and remembered once, so that decide() fails
  // the rules that look at `node` or below it. Failing the whole event
  // instead would make a rule's answer depend on the other rules' paths.
  bool too_deep(cursor& cur, std::uint32_t node, std::uint64_t values) {
    if (std::find(too_deep_.begin(), too_deep_.end(), node) == too_deep_.end())
      too_deep_.push_back(node);
    return skip(cur, values);
  }

  bool map_body(cursor& cur, std::uint32_t node, std::uint32_t pairs, std::uint32_t pos, std::size_t depth) {
    if (pairs > cur.left() / 2)
      return false;
    for (std::uint32_t k = 0; k < pairs; ++k) {
      std::uint32_t child = none;
      if (cur.p < cur.end && (*cur.p & 0xE0) == 0xA0) {
        // A short string (fixstr), as nearly every key is: read it here.
        const std::size_t len = *cur.p & 0x1F;
        if (cur.left() < 1 + len)
          return false;
        child = resolve(node, std::string_view(reinterpret_cast<const char*>(cur.p) + 1, len));
        cur.p += 1 + len;
      } else {
        header key;
        if (!read_header(cur, key))
          return false;
        if (key.type == header::kind::str) {
          child = resolve(node, std::string_view(key.data, key.n));
        } else if (key.type == header::kind::map || key.type == header::kind::array) {
          // Keys that are not strings name no field; step over them.
          if (!skip(cur, key.type == header::kind::map ? 2 * std::uint64_t{key.n} : key.n))
            return false;
        }
      }
      if (child == none) {
        // Most skipped values are short strings and small scalars.
        if (cur.p < cur.end) {
          const unsigned b = *cur.p;
          if (b <= 0x7F || b >= 0xE0 || b == 0xC0 || b == 0xC2 || b == 0xC3) {
            ++cur.p;
            continue;
          }
          if ((b & 0xE0) == 0xA0) {
            const std::size_t len = 1 + (b & 0x1F);
            if (cur.left() < len)
              return false;
            cur.p += len;
            continue;
          }
        }
        if (!skip(cur, 1))
          return false;
      } else if (!value(cur, child, pos, depth)) {
        return false;
      }
    }
    return true;
  }

  // An event key may itself hold dots ("instance.state"): EventBridge joins
  // nested keys with '.', so each dot-separated segment is one trie step.
  std::uint32_t resolve(std::uint32_t node, std::string_view key) const {
    if (!has_dot(key)) {
      if (!(c_.nodes[node].key_filter >> key_bit(key) & 1))
        return none;
      return c_.children.find(node, key);
    }
    std::uint32_t cur = node;
    for (;;) {
      const void* dot = key.empty() ? nullptr : std::memchr(key.data(), '.', key.size());
      if (!dot)
        return c_.children.find(cur, key);
      const auto len = static_cast<std::size_t>(static_cast<const char*>(dot) - key.data());
      cur = c_.children.find(cur, key.substr(0, len));
      if (cur == none)
        return none;
      key.remove_prefix(len + 1);
    }
  }

  std::uint32_t element(std::uint32_t parent, std::uint32_t array) {
    s_.positions.push_back(scratch::position{parent, array, s_.positions[parent].depth + 1});
    return static_cast<std::uint32_t>(s_.positions.size() - 1);
  }

  bool scalar(std::uint32_t field, const header& h, std::uint32_t pos) {
    leaf v;
    switch (h.type) {
      case header::kind::nil: v.type = leaf::kind::null; break;
      case header::kind::is_true: v.type = leaf::kind::is_true; break;
      case header::kind::is_false: v.type = leaf::kind::is_false; break;
      case header::kind::i64:
        v.type = leaf::kind::number;
        if (int_fits_double(h.i)) {
          v.number.type = event_number::kind::i64;
          v.number.i = h.i;
        } else {
          big_integer(std::to_chars(s_.digits, s_.digits + sizeof s_.digits, h.i).ptr, v);
        }
        break;
      case header::kind::u64:
        v.type = leaf::kind::number;
        big_integer(std::to_chars(s_.digits, s_.digits + sizeof s_.digits, h.u).ptr, v);
        break;
      case header::kind::f64:
        // NaN and infinities are not JSON numbers: they match no number test.
        if (std::isfinite(h.f)) {
          v.type = leaf::kind::number;
          v.number.f = h.f;
        }
        break;
      case header::kind::str:
        v.type = leaf::kind::string;
        v.text = std::string_view(h.data, h.n);
        break;
      case header::kind::ext:
        if (h.ext == decimal_ext_type) {
          v.text = std::string_view(h.data, h.n);
          if (auto d = parse_decimal(v.text)) {
            s_.number = std::move(*d);
            v.type = leaf::kind::number;
            v.number.type = event_number::kind::dec;
            v.number.dec = &s_.number;
          }
        }
        break;
      default:
        break;  // bin and other ext: a value, but no test's kind
    }
    return evaluate(field, v, pos);
  }

  // Integers beyond 2^53 are compared by decimal value like any number
  // that is not a double (s_.digits holds their text, up to `end`).
  void big_integer(const char* end, leaf& v) {
    v.text = std::string_view(s_.digits, static_cast<std::size_t>(end - s_.digits));
    s_.number = *parse_decimal(v.text);
    v.number.type = event_number::kind::dec;
    v.number.dec = &s_.number;
  }

  bool evaluate(std::uint32_t field, const leaf& v, std::uint32_t pos) {
    const compiled::field& fd = c_.fields[field];
    s_.cache.reset();
    if (!fd.positive.empty())
      fd.positive.find(v, s_.cache, [&](id_span ids) { hit(ids, pos); });
    if (!fd.groups.empty()) {
      const std::uint32_t stamp = s_.next_leaf_stamp();
      if (!fd.excluded.empty())
        fd.excluded.find(v, s_.cache, [&](id_span groups) {
          for (std::uint32_t k = 0; k < groups.size; ++k)
            s_.group_stamp[groups.data[k]] = stamp;
        });
      for (std::uint32_t g : fd.groups)
        if (s_.group_stamp[g] != stamp)
          hit(id_span{c_.group_ids.data() + c_.group_ids_offset[g], c_.group_ids_offset[g + 1] - c_.group_ids_offset[g]},
              pos);
    }
    if (fd.negative != none)
      present(fd.negative, pos);
    return !overflow_;
  }

  // Ids from the index: rules that match, and conditions of larger
  // alternatives to remember.
  void hit(id_span ids, std::uint32_t pos) {
    // Spans are ascending and rule ids sort last, so one that opens with a
    // rule holds only rules. The largest such span is kept whole, for
    // decide() to merge with the marks, instead of marking its rules one by
    // one: with few matching values per event, most matches come from it.
    if (ids.size > pending_.size && (ids.data[0] & rule_tag))
      std::swap(ids, pending_);
    mark_all(ids, pos);
  }

  // Marks the rules of a span one by one and remembers its conditions. The
  // arrays are held in locals: stores through them would otherwise force
  // reloads of every vector's pointer per id.
  void mark_all(id_span ids, std::uint32_t pos) {
    std::uint64_t* const bits = s_.rule_bits.data();
    std::uint64_t* const words = s_.rule_words.data();
    std::uint32_t* const list = s_.matched.data();
    std::size_t n = s_.matched_count;
    for (std::uint32_t k = 0; k < ids.size; ++k) {
      const std::uint32_t id = ids.data[k];
      if (!(id & rule_tag)) {
        s_.matched_count = n;
        condition_hit(id, pos);
        continue;
      }
      const std::uint32_t r = id & ~rule_tag;
      const std::uint64_t bit = std::uint64_t{1} << (r % 64);
      if (bits[r / 64] & bit)
        continue;
      bits[r / 64] |= bit;
      words[r / 4096] |= std::uint64_t{1} << (r / 64 % 64);
      list[n++] = r;
    }
    s_.matched_count = n;
  }

  void condition_hit(std::uint32_t cond, std::uint32_t pos) {
    auto& st = s_.conditions[cond];
    if (st.epoch != s_.epoch) {
      st.epoch = s_.epoch;
      st.head = none;
      st.at_top = false;
      s_.hits.push_back(cond);
    }
    if (pos == 0)
      st.at_top = true;
    if (st.head == none || s_.records[st.head].position != pos)
      st.head = remember(pos, st.head);
  }

  void present(std::uint32_t neg, std::uint32_t pos) {
    auto& st = s_.negatives[neg];
    if (st.epoch != s_.epoch) {
      st.epoch = s_.epoch;
      st.head = none;
    }
    if (st.head == none || s_.records[st.head].position != pos)
      st.head = remember(pos, st.head);
  }

  std::uint32_t remember(std::uint32_t pos, std::uint32_t next) {
    if (s_.records.size() >= limits::max_event_records) {
      overflow_ = true;
      return next;
    }
    s_.records.push_back(scratch::record{pos, next});
    return static_cast<std::uint32_t>(s_.records.size() - 1);
  }

  void string_field(std::uint32_t node, std::string_view text, std::uint32_t pos) {
    if (node == none || c_.nodes[node].field == none)
      return;
    leaf v;
    v.type = leaf::kind::string;
    v.text = text;
    evaluate(c_.nodes[node].field, v, pos);
  }

  // After a successful walk: which rules have an alternative satisfied.
  void decide(std::vector<std::size_t>& out) {
    if (overflow_)
      return;
    const std::size_t first = out.size();
    for (std::uint32_t cond : s_.hits) {
      const compiled::condition& ci = c_.conditions[cond];
      for (std::uint32_t k = 0; k < ci.sub_count; ++k) {
        const std::uint32_t si = c_.condition_subs[ci.subs + k];
        const compiled::sub& sb = c_.subs[si];
        if (marked(sb.rule))
          continue;
        auto& st = s_.subs[si];
        if (st.epoch != s_.epoch) {
          st.epoch = s_.epoch;
          st.count = 0;
        }
        if (++st.count == sb.conditions)
          s_.candidates.push_back(si);
      }
    }
    for (std::uint32_t si : c_.negative_only_subs)
      s_.candidates.push_back(si);
    for (std::uint32_t si : s_.candidates)
      if (!marked(c_.subs[si].rule) && satisfied(si))
        mark(c_.subs[si].rule);
    std::uint32_t* m = s_.matched.data();
    const std::size_t n = s_.matched_count;
    s_.matched_count = 0;
    sort_marks(m, n);
    if (pending_.size == 0)
      out.insert(out.end(), m, m + n);
    else
      merge_pending(m, n, out);
    if (!too_deep_.empty())
      out.erase(std::remove_if(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                               [&](std::size_t rule) { return looks_too_deep(rule); }),
                out.end());
  }

 private:
  bool marked(std::uint32_t rule) const { return s_.rule_bits[rule / 64] >> (rule % 64) & 1; }

  /// Whether `rule` looks at a node where the event nests too deep, or
  /// below one.
  bool looks_too_deep(std::size_t rule) const {
    for (std::uint32_t k = c_.rule_nodes_offset[rule]; k < c_.rule_nodes_offset[rule + 1]; ++k)
      for (std::uint32_t n = c_.rule_nodes[k];; n = c_.parents[n]) {
        if (std::find(too_deep_.begin(), too_deep_.end(), n) != too_deep_.end())
          return true;
        if (n == 0)
          break;
      }
    return false;
  }

  // Sorts the marked rules m[0..n) and clears their marks. Sorting from the
  // marks costs a few summary words plus one word per match; with many
  // rules (summary longer than a few words) and few matches, sorting the
  // short list is cheaper.
  void sort_marks(std::uint32_t* m, std::size_t n) {
    if (n == 0)
      return;
    if (n <= 16 && s_.rule_words.size() > 4) {
      // A few matches per event is the norm: insertion sort.
      for (std::size_t i = 1; i < n; ++i) {
        const std::uint32_t v = m[i];
        std::size_t j = i;
        for (; j > 0 && m[j - 1] > v; --j)
          m[j] = m[j - 1];
        m[j] = v;
      }
      for (std::size_t k = 0; k < n; ++k) {
        s_.rule_bits[m[k] / 64] = 0;
        s_.rule_words[m[k] / 4096] = 0;
      }
      return;
    }
    // Many: the marks are the sorted set. Visit only the words that have
    // marks (the summary says which), clearing as we go.
    std::size_t at = 0;
    std::uint64_t* const bit_words = s_.rule_bits.data();
    for (std::size_t sw = 0; sw < s_.rule_words.size(); ++sw) {
      std::uint64_t words = s_.rule_words[sw];
      s_.rule_words[sw] = 0;
      while (words) {
        const std::size_t w = sw * 64 + static_cast<std::size_t>(__builtin_ctzll(words));
        words &= words - 1;
        std::uint64_t bits = bit_words[w];
        bit_words[w] = 0;
        while (bits) {
          m[at++] = static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
          bits &= bits - 1;
        }
      }
    }
  }

  // Appends to out the rules of the sorted marks m[0..n) and of the pending
  // span, ascending and each once. No branch depends on which run holds the
  // smaller head: rules are below 2^31, so the sign bit of a difference
  // compares two, and stepping is arithmetic on it (written as conditions,
  // the compiler turns it into a branch that mispredicts half the time).
  void merge_pending(const std::uint32_t* m, std::size_t n, std::vector<std::size_t>& out) {
    const std::uint32_t* a = m;
    const std::uint32_t* const a_end = m + n;
    const std::uint32_t* b = pending_.data;
    const std::uint32_t* const b_end = b + pending_.size;
    const std::size_t at = out.size();
    out.resize(at + n + pending_.size);
    std::size_t* to = out.data() + at;
    while (a != a_end && b != b_end) {
      const std::uint32_t x = *a, y = *b & ~rule_tag;
      const std::uint32_t x_above = (y - x) >> 31, y_above = (x - y) >> 31;
      *to++ = x_above ? y : x;
      a += 1 - x_above;
      b += 1 - y_above;
    }
    while (a != a_end)
      *to++ = *a++;
    while (b != b_end)
      *to++ = *b++ & ~rule_tag;
    out.resize(static_cast<std::size_t>(to - out.data()));
  }

  // Marks a rule as matched, once per event.
  void mark(std::uint32_t r) {
    std::uint64_t& word = s_.rule_bits[r / 64];
    const std::uint64_t bit = std::uint64_t{1} << (r % 64);
    if (word & bit)
      return;
    word |= bit;
    s_.rule_words[r / 4096] |= std::uint64_t{1} << (r / 64 % 64);
    s_.matched[s_.matched_count++] = r;
  }

  bool satisfied(std::uint32_t si) {
    const compiled::sub& sb = c_.subs[si];
    bool negatives_clear = true;
    for (std::uint32_t k = 0; k < sb.negatives; ++k)
      if (s_.negatives[c_.sub_negatives[sb.negatives_offset + k]].epoch == s_.epoch)
        negatives_clear = false;
    if (negatives_clear) {
      if (sb.conditions <= 1)
        return true;
      bool all_top = true;
      for (std::uint32_t k = 0; k < sb.conditions && all_top; ++k)
        all_top = s_.conditions[c_.sub_conditions[sb.conditions_offset + k]].at_top;
      // Values outside every array combine with anything.
      if (all_top)
        return true;
    } else if (sb.conditions == 0) {
      return false;  // nothing chosen: every present value counts against it
    }
    return search(sb);
  }

  // Array-consistent matching: choose one value per condition such that no
  // two come from different elements of one array, and such that no value
  // of a negative path sits in the elements chosen (event-ruler checks
  // exists:false only against fields that sort before it; troupe checks
  // against all of them, see the quirks test).
  bool search(const compiled::sub& sb) {
    // Every position gathered or compared counts against the step budget.
    s_.steps = 0;
    s_.slot_positions.clear();
    s_.slot_offsets.assign(1, 0);
    for (std::uint32_t k = 0; k < sb.conditions; ++k) {
      const auto& st = s_.conditions[c_.sub_conditions[sb.conditions_offset + k]];
      for (std::uint32_t r = st.head; r != none; r = s_.records[r].next)
        s_.slot_positions.push_back(s_.records[r].position);
      s_.slot_offsets.push_back(static_cast<std::uint32_t>(s_.slot_positions.size()));
      if ((s_.steps += s_.slot_offsets.back() - s_.slot_offsets[k]) > limits::max_consistency_steps)
        return false;
    }
    s_.negative_positions.clear();
    for (std::uint32_t k = 0; k < sb.negatives; ++k) {
      const auto& st = s_.negatives[c_.sub_negatives[sb.negatives_offset + k]];
      if (st.epoch != s_.epoch)
        continue;
      for (std::uint32_t r = st.head; r != none; r = s_.records[r].next)
        s_.negative_positions.push_back(s_.records[r].position);
    }
    if ((s_.steps += s_.negative_positions.size()) > limits::max_consistency_steps)
      return false;
    s_.order.resize(sb.conditions);
    for (std::uint32_t k = 0; k < sb.conditions; ++k)
      s_.order[k] = k;
    std::sort(s_.order.begin(), s_.order.end(), [&](std::uint32_t a, std::uint32_t b) {
      return s_.slot_offsets[a + 1] - s_.slot_offsets[a] < s_.slot_offsets[b + 1] - s_.slot_offsets[b];
    });
    s_.assigned.resize(sb.conditions);
    return choose(0, sb.conditions);
  }

  bool choose(std::uint32_t k, std::uint32_t n) {
    if (k == n)
      return no_negative_inside(n);
    const std::uint32_t slot = s_.order[k];
    for (std::uint32_t i = s_.slot_offsets[slot]; i < s_.slot_offsets[slot + 1]; ++i) {
      const std::uint32_t p = s_.slot_positions[i];
      bool ok = true;
      for (std::uint32_t j = 0; j < k && ok; ++j)
        ok = compatible(p, s_.assigned[j]);
      if (++s_.steps > limits::max_consistency_steps)
        return false;
      if (!ok)
        continue;
      s_.assigned[k] = p;
      if (choose(k + 1, n))
        return true;
      if (s_.steps > limits::max_consistency_steps)
        return false;
    }
    return false;
  }

  bool no_negative_inside(std::uint32_t n) {
    for (std::uint32_t p : s_.negative_positions) {
      if (++s_.steps > limits::max_consistency_steps)
        return false;
      bool inside = true;
      for (std::uint32_t j = 0; j < n && inside; ++j)
        inside = compatible(p, s_.assigned[j]);
      if (inside)
        return false;
    }
    return true;
  }

  // Two values combine unless they lie in different elements of one array:
  // climb to their closest common position; the two positions just below
  // it are elements of the same array (conflict) or of different arrays.
  bool compatible(std::uint32_t a, std::uint32_t b) const {
    if (a == b || a == 0 || b == 0)
      return true;
    const auto& ps = s_.positions;
    while (ps[a].depth > ps[b].depth)
      a = ps[a].parent;
    while (ps[b].depth > ps[a].depth)
      b = ps[b].parent;
    if (a == b)
      return true;
    while (ps[a].parent != ps[b].parent) {
      a = ps[a].parent;
      b = ps[b].parent;
    }
    return ps[a].array != ps[b].array;
  }

  const compiled& c_;
  scratch& s_;
  bool overflow_ = false;
  // Nodes where the event nests past max_event_depth (see too_deep()).
  std::vector<std::uint32_t> too_deep_;
  // The largest span of rules only seen so far (see hit()).
  id_span pending_;
};

} // namespace

} // namespace detail

// ---------------------------------------------------------------------------

struct matcher::state {
  std::vector<detail::rule_spec> rules;
  std::unique_ptr<const detail::compiled> compiled;
  std::atomic<bool> dirty{true};
  std::mutex mutex;
};

matcher::matcher() : state_(std::make_unique<state>()) {}
matcher::~matcher() = default;
matcher::matcher(matcher&&) noexcept = default;
matcher& matcher::operator=(matcher&&) noexcept = default;

result<std::size_t, pattern_error> matcher::add(std::string name, std::string_view pattern_json) {
  auto r = detail::compile_pattern(pattern_json);
  if (!r)
    return r.err();
  state_->rules.push_back(detail::rule_spec{std::move(name), std::move(*r)});
  state_->dirty.store(true, std::memory_order_release);
  return state_->rules.size() - 1;
}

void matcher::compile() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->compiled = detail::build(state_->rules);
  state_->dirty.store(false, std::memory_order_release);
}

const detail::compiled& matcher::ensure_compiled() const {
  if (state_->dirty.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->dirty.load(std::memory_order_relaxed)) {
      state_->compiled = detail::build(state_->rules);
      state_->dirty.store(false, std::memory_order_release);
    }
  }
  return *state_->compiled;
}

void matcher::match(const event_view& ev, std::vector<std::size_t>& out) const {
  using namespace detail;
  const compiled& c = ensure_compiled();
  scratch& s = scratch_for(c);
  run r(c, s);
  r.string_field(c.top_id, ev.id, 0);
  r.string_field(c.top_source, ev.source, 0);
  r.string_field(c.top_detail_type, ev.detail_type, 0);
  if (c.top_time != none && c.nodes[c.top_time].field != none) {
    format_time(ev.time_ms, s.time_text);
    r.string_field(c.top_time, s.time_text, 0);
  }
  if (c.top_resources != none && c.nodes[c.top_resources].field != none && ev.resources) {
    const bool tracks = c.nodes[c.top_resources].tracks_arrays;
    const std::uint32_t array = ++s.arrays;
    for (const auto& res : *ev.resources)
      r.string_field(c.top_resources, res, tracks ? r.element(0, array) : 0);
  }
  if (c.top_detail != none && !ev.detail.empty()) {
    cursor cur{reinterpret_cast<const unsigned char*>(ev.detail.data()),
               reinterpret_cast<const unsigned char*>(ev.detail.data()) + ev.detail.size()};
    if (!is_map_byte(*cur.p) || !r.value(cur, c.top_detail, 0, 1) || cur.p != cur.end)
      return;
  }
  r.decide(out);
}

void matcher::match_msgpack(std::string_view event_map, std::vector<std::size_t>& out) const {
  using namespace detail;
  const compiled& c = ensure_compiled();
  scratch& s = scratch_for(c);
  run r(c, s);
  cursor cur{reinterpret_cast<const unsigned char*>(event_map.data()),
             reinterpret_cast<const unsigned char*>(event_map.data()) + event_map.size()};
  if (event_map.empty() || !is_map_byte(*cur.p) || !r.value(cur, 0, 0, 0) || cur.p != cur.end)
    return;
  r.decide(out);
}

std::size_t matcher::size() const { return state_->rules.size(); }

const std::string& matcher::name(std::size_t index) const { return state_->rules.at(index).name; }

std::optional<std::vector<std::string>> matcher::pinned_values(std::size_t index, std::string_view field) const {
  using namespace detail;
  if (index >= state_->rules.size())
    return std::nullopt;
  std::vector<std::string> all;
  for (const alternative& alt : state_->rules[index].pattern.alternatives) {
    // Each alternative must pin the field; if it tests it twice (a $or
    // branch repeating it), either test bounds the values, take the smaller.
    std::optional<std::vector<std::string>> best;
    for (const field_test& f : alt.fields) {
      if (f.path != field)
        continue;
      std::vector<std::string> values;
      bool exact = true;
      for (const value_test& t : f.values) {
        if ((t.kind == test_kind::exact_string && !t.is_address) || t.kind == test_kind::exactly)
          values.push_back(t.text);
        else
          exact = false;
      }
      if (exact && (!best || values.size() < best->size()))
        best = std::move(values);
    }
    if (!best)
      return std::nullopt;
    all.insert(all.end(), best->begin(), best->end());
  }
  if (all.empty())
    return std::nullopt;
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

} // namespace troupe::rules
