#include "rules/value_index.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace troupe::rules::detail {

namespace {

void sort_unique(std::vector<std::uint32_t>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

// Above this many (range, slot) pairs the segment table would cost more
// memory than it saves time: fall back to testing each range.
constexpr std::size_t max_numeric_slot_ids = std::size_t{1} << 22;

} // namespace

void string_table::finish() {
  // Tags are a byte a slot: keep the groups at most half full, so that
  // probes end in their first group.
  std::size_t groups = 1;
  while (8 * groups < 2 * pending_.size())
    groups *= 2;
  tags_.assign(pending_.empty() ? 0 : groups, empty_tag * ones);
  offsets_.assign(pending_.empty() ? 0 : 8 * groups, 0);
  mask_ = groups - 1;
  records_.clear();
  for (auto& [key, ids] : pending_) {
    sort_unique(ids);
    const auto at = static_cast<std::uint32_t>(records_.size());
    records_.push_back(static_cast<std::uint32_t>(key.size()));
    records_.push_back(static_cast<std::uint32_t>(ids.size()));
    records_.insert(records_.end(), ids.begin(), ids.end());
    const std::size_t words = (key.size() + 3) / 4;
    const std::size_t key_at = records_.size();
    records_.resize(records_.size() + words, 0);
    if (!key.empty())
      std::memcpy(records_.data() + key_at, key.data(), key.size());
    const std::uint64_t h = hash(key);
    std::size_t g = h & mask_;
    while (!(tags_[g] & highs))
      g = (g + 1) & mask_;
    const auto slot = static_cast<unsigned>(__builtin_ctzll(tags_[g] & highs) / 8);
    tags_[g] = (tags_[g] & ~(std::uint64_t{0xFF} << (8 * slot))) | (tag_of(h) << (8 * slot));
    offsets_[8 * g + slot] = at;
  }
  pending_.clear();
}

void affix_table::finish() {
  lengths_.clear();
  std::size_t ids = 0;
  for (auto& [key, list] : pending_) {
    sort_unique(list);
    lengths_.push_back(static_cast<std::uint32_t>(key.size()));
    ids += list.size();
  }
  std::sort(lengths_.begin(), lengths_.end());
  lengths_.erase(std::unique(lengths_.begin(), lengths_.end()), lengths_.end());
  // Each key inherits the ids of the longest shorter key it starts (ends)
  // with, which has inherited from its own: shortest keys first. The copies
  // may not cost more than a few times the ids themselves.
  std::vector<const std::string*> by_length;
  for (const auto& entry : pending_)
    by_length.push_back(&entry.first);
  std::stable_sort(by_length.begin(), by_length.end(),
                   [](const std::string* a, const std::string* b) { return a->size() < b->size(); });
  std::map<std::string, std::vector<std::uint32_t>> inherited;
  std::size_t inherited_ids = 0;
  const std::size_t budget = 8 * ids + 1024;
  for (const std::string* key : by_length) {
    std::vector<std::uint32_t> list = pending_.at(*key);
    for (auto len = std::lower_bound(lengths_.begin(), lengths_.end(), key->size()); len != lengths_.begin();) {
      --len;
      auto shorter = inherited.find(suffixes_ ? key->substr(key->size() - *len) : key->substr(0, *len));
      if (shorter == inherited.end())
        continue;
      std::vector<std::uint32_t> merged;
      std::set_union(list.begin(), list.end(), shorter->second.begin(), shorter->second.end(),
                     std::back_inserter(merged));
      list = std::move(merged);
      break;
    }
    inherited_ids += list.size();
    if (inherited_ids > budget)
      break;
    inherited.emplace(*key, std::move(list));
  }
  inherited_ = inherited_ids <= budget;
  for (const auto& [key, list] : inherited_ ? inherited : pending_)
    for (std::uint32_t id : list)
      keys_.add(key, id);
  keys_.finish();
  pending_.clear();
}

bool numeric_index::contains(const range& r, const event_number& n) {
  if (r.has_lower) {
    const int c = compare_number(n, r.lower, r.lower_decimal);
    if (c < 0 || (c == 0 && !r.lower_inclusive))
      return false;
  }
  if (r.has_upper) {
    const int c = compare_number(n, r.upper, r.upper_decimal);
    if (c > 0 || (c == 0 && !r.upper_inclusive))
      return false;
  }
  return true;
}

void numeric_index::add(const value_test& t, std::uint32_t id) {
  range r;
  r.has_lower = t.has_lower;
  r.lower_inclusive = t.lower_inclusive;
  r.has_upper = t.has_upper;
  r.upper_inclusive = t.upper_inclusive;
  r.lower = t.lower == 0 ? 0.0 : t.lower;
  r.upper = t.upper == 0 ? 0.0 : t.upper;
  if (r.has_lower)
    r.lower_decimal = *parse_decimal(shortest_text(r.lower));
  if (r.has_upper)
    r.upper_decimal = *parse_decimal(shortest_text(r.upper));
  r.id = id;
  ranges_.push_back(std::move(r));
}

void numeric_index::finish() {
  bounds_.clear();
  for (const range& r : ranges_) {
    if (r.has_lower)
      bounds_.push_back(r.lower);
    if (r.has_upper)
      bounds_.push_back(r.upper);
  }
  std::sort(bounds_.begin(), bounds_.end());
  bounds_.erase(std::unique(bounds_.begin(), bounds_.end()), bounds_.end());
  const std::size_t m = bounds_.size();
  auto position = [&](double b) {
    return static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), b) - bounds_.begin());
  };
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // first and last slot of each range
  std::size_t total = 0;
  for (const range& r : ranges_) {
    const std::size_t first = !r.has_lower ? 0 : 2 * position(r.lower) + (r.lower_inclusive ? 1 : 2);
    const std::size_t last = !r.has_upper ? 2 * m : 2 * position(r.upper) + (r.upper_inclusive ? 1 : 0);
    spans.emplace_back(first, last);
    if (last >= first)
      total += last - first + 1;
  }
  table_ = total <= max_numeric_slot_ids;
  if (!table_)
    return;
  bound_decimals_.clear();
  for (double b : bounds_)
    bound_decimals_.push_back(*parse_decimal(shortest_text(b)));
  std::vector<std::uint32_t> counts(2 * m + 2, 0);
  for (const auto& [first, last] : spans)
    for (std::size_t s = first; s <= last && s <= 2 * m; ++s)
      ++counts[s];
  slot_offsets_.assign(2 * m + 2, 0);
  for (std::size_t s = 0; s < 2 * m + 1; ++s)
    slot_offsets_[s + 1] = slot_offsets_[s] + counts[s];
  std::vector<std::uint32_t> ids(slot_offsets_[2 * m + 1], 0);
  std::vector<std::uint32_t> fill(slot_offsets_.begin(), slot_offsets_.end() - 1);
  for (std::size_t k = 0; k < ranges_.size(); ++k)
    for (std::size_t s = spans[k].first; s <= spans[k].second && s <= 2 * m; ++s)
      ids[fill[s]++] = ranges_[k].id;
  // Each slot's ids ascending and once, as every lookup reports them.
  slot_ids_.clear();
  for (std::size_t s = 0; s < 2 * m + 1; ++s) {
    std::vector<std::uint32_t> slot(ids.begin() + slot_offsets_[s], ids.begin() + slot_offsets_[s + 1]);
    sort_unique(slot);
    slot_offsets_[s] = static_cast<std::uint32_t>(slot_ids_.size());
    slot_ids_.insert(slot_ids_.end(), slot.begin(), slot.end());
  }
  slot_offsets_[2 * m + 1] = static_cast<std::uint32_t>(slot_ids_.size());
}

void cidr_index::add(const cidr_block& b, std::uint32_t id) {
  auto& tables = b.network.family == 4 ? v4_ : v6_;
  for (auto& [bits, table] : tables) {
    if (bits == b.bits) {
      table.add(address_key(b.network), id);
      return;
    }
  }
  tables.emplace_back(b.bits, string_table{});
  tables.back().second.add(address_key(b.network), id);
}

void cidr_index::finish() {
  for (auto* tables : {&v4_, &v6_})
    for (auto& t : *tables)
      t.second.finish();
}

void wildcard_index::add(const value_test& t, std::uint32_t id) {
  auto [it, fresh] = by_source_.emplace(t.text, static_cast<std::uint32_t>(entries_.size()));
  if (fresh)
    entries_.push_back(entry{t.glob, {}});
  entries_[it->second].ids.push_back(id);
}

void wildcard_index::finish() {
  for (std::uint32_t e = 0; e < entries_.size(); ++e) {
    entry& en = entries_[e];
    sort_unique(en.ids);
    // File each glob under one literal end so most values never run it.
    const auto& segs = en.glob.segments;
    if (!segs.front().empty())
      by_prefix_.add(segs.front(), e);
    else if (!segs.back().empty())
      by_suffix_.add(segs.back(), e);
    else
      floating_.push_back(e);
  }
  by_prefix_.finish();
  by_suffix_.finish();
  by_source_.clear();
}

std::string_view leaf_cache::number_key(const leaf& v) {
  if (keyed)
    return key;
  keyed = true;
  switch (v.number.type) {
    case event_number::kind::f64:
      double_key(v.number.f, double_key_buf);
      key = std::string_view(double_key_buf, double_key_size);
      return key;
    case event_number::kind::i64:
      double_key(static_cast<double>(v.number.i), double_key_buf);
      key = std::string_view(double_key_buf, double_key_size);
      return key;
    case event_number::kind::dec: {
      auto info = classify_number(v.text);
      key_buf = info ? key_of(*info) : std::string();
      break;
    }
  }
  key = key_buf;
  return key;
}

void value_index::add(const value_test& t, std::uint32_t id) {
  empty_ = false;
  switch (t.kind) {
    case test_kind::exact_string:
      if (t.is_address) {
        addresses_.add(address_key(t.address), id);
        addresses_used_ = true;
      } else {
        exact_.add(t.text, id);
      }
      break;
    case test_kind::exactly: exact_.add(t.text, id); break;
    case test_kind::exact_number: numbers_.add(t.text, id); break;
    case test_kind::exact_true: on_true_.push_back(id); break;
    case test_kind::exact_false: on_false_.push_back(id); break;
    case test_kind::exact_null: on_null_.push_back(id); break;
    case test_kind::prefix: prefixes_.add(t.text, id); break;
    case test_kind::suffix: suffixes_.add(t.text, id); break;
    case test_kind::equals_ignore_case:
      folded_.add(t.text, id);
      fold_used_ = true;
      break;
    case test_kind::prefix_ignore_case:
      folded_prefixes_.add(t.text, id);
      fold_used_ = true;
      break;
    case test_kind::suffix_ignore_case:
      folded_suffixes_.add(t.text, id);
      fold_used_ = true;
      break;
    case test_kind::wildcard: wildcards_.add(t, id); break;
    case test_kind::numeric: numeric_.add(t, id); break;
    case test_kind::cidr:
      cidrs_.add(t.block, id);
      addresses_used_ = true;
      break;
    case test_kind::exists: on_any_.push_back(id); break;
    case test_kind::anything_but: break;  // the caller files its exclusions in another index
  }
}

void value_index::finish() {
  exact_.finish();
  addresses_.finish();
  numbers_.finish();
  folded_.finish();
  prefixes_.finish();
  suffixes_.finish();
  folded_prefixes_.finish();
  folded_suffixes_.finish();
  wildcards_.finish();
  numeric_.finish();
  cidrs_.finish();
  for (auto* v : {&on_true_, &on_false_, &on_null_, &on_any_})
    sort_unique(*v);
}

} // namespace troupe::rules::detail
