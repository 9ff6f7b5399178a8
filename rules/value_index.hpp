// One field's index over every rule's value tests, and the hash tables it
// is built from.
//
// For one field path, all rules' values compile into one `value_index`:
// exact strings, addresses, numbers and case-folded strings in hash tables;
// prefixes and suffixes in a hash table probed once per distinct length,
// longest first, until a key that carries the ids of the shorter ones (so
// a value costs at most one probe per length, whatever the number of
// rules); wildcards filed under their literal prefix or suffix and
// confirmed by the glob; numeric ranges cut into a sorted table of
// elementary segments, each with the ranges covering it (binary search,
// then a ready list); CIDR blocks in one table per prefix length. A lookup
// reports the ids whose test the value passes (rules, conditions or
// anything-but groups: the ids mean what rules/matcher.cpp files them as),
// as spans each ascending and without repeats, though an id may come in
// more than one span; callers deduplicate.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/case_fold.hpp"
#include "rules/ip.hpp"
#include "rules/numbers.hpp"
#include "rules/pattern.hpp"
#include "rules/wildcard.hpp"

namespace troupe::rules::detail {

__extension__ typedef unsigned __int128 uint128;

inline std::uint64_t load64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) {
  const uint128 r = static_cast<uint128>(a) * b;
  return static_cast<std::uint64_t>(r >> 64) ^ static_cast<std::uint64_t>(r);
}

inline std::uint64_t load32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

/// Up to 8 bytes as a little-endian word, zero above them, without
/// reading outside [p, p + n).
inline std::uint64_t load_upto8(const char* p, std::size_t n) {
  if (n >= 4) {
    // Two overlapping 4-byte loads; the overlap holds the same bytes.
    return load32(p) | (load32(p + n - 4) << (8 * (n - 4)));
  }
  std::uint64_t w = 0;
  for (std::size_t i = 0; i < n; ++i)
    w |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return w;
}

/// The hash of a key of at most 8 bytes given as its word (load_upto8):
/// one multiply. Prefix and suffix lookups get every length's hash from one
/// word by masking, independently, instead of hashing each substring.
inline std::uint64_t hash_word(std::uint64_t w, std::size_t n, std::uint64_t seed) {
  return mum(w ^ seed ^ 0xa0761d6478bd642full, n ^ 0xe7037ed1a0b428dbull);
}

/// A fast 64-bit hash for keys (wyhash's construction: overlapping loads,
/// no per-byte loop). Tables verify keys, so collisions cost time only, and
/// their probe lengths are fixed by the rules, never by event contents.
inline std::uint64_t hash_bytes(const char* p, std::size_t n, std::uint64_t seed) {
  if (n <= 8)
    return hash_word(load_upto8(p, n), n, seed);
  constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull, k2 = 0x8ebc6af09c88c6e3ull;
  seed ^= k0;
  std::uint64_t a, b;
  if (n <= 16) {
    a = load64(p);
    b = load64(p + n - 8);
  } else {
    std::size_t i = n;
    while (i > 16) {
      seed = mum(load64(p) ^ k1, load64(p + 8) ^ seed);
      p += 16;
      i -= 16;
    }
    a = load64(p + i - 16);
    b = load64(p + i - 8);
  }
  return mum(mum(a ^ k1, b ^ seed) ^ k2, n ^ k1);
}

/// Byte equality of two n-byte ranges with word loads that stay inside
/// both (short keys are the norm; a libc call would cost more than this).
inline bool same_bytes(const char* a, const char* b, std::size_t n) {
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8)
      if (load64(a + i) != load64(b + i))
        return false;
    return load64(a + n - 8) == load64(b + n - 8);
  }
  if (n >= 4)
    return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
  for (std::size_t i = 0; i < n; ++i)
    if (a[i] != b[i])
      return false;
  return true;
}

struct id_span {
  const std::uint32_t* data = nullptr;
  std::uint32_t size = 0;
};

/// String → sorted ids, open addressing, built once. Slots come in groups
/// of 8 whose one-byte tags (7 bits of the key's hash, or `empty_tag`)
/// share one word: a probe loads that word and compares all 8 tags at once
/// (the has-zero-byte trick), so a miss, the common case for many prefix
/// tables, touches one small array (a byte per slot) and takes no branch
/// that depends on the data; the groups stay at most half full, so a probe
/// nearly always ends in its first group. A record holds the ids and then
/// the key, contiguous, so a hit reads one more place.
class string_table {
 public:
  void add(std::string_view key, std::uint32_t id) { pending_[std::string(key)].push_back(id); }
  void finish();
  bool empty() const { return tags_.empty(); }

  static std::uint64_t hash(std::string_view key) { return hash_bytes(key.data(), key.size(), 0); }

  /// Starts loading the group `h` probes first; lookups of one value into
  /// several tables then overlap their cache misses instead of queueing.
  void prefetch(std::uint64_t h) const {
    if (!tags_.empty())
      __builtin_prefetch(&tags_[h & mask_]);
  }

  id_span find(std::string_view key) const { return tags_.empty() ? id_span{} : find(key, hash(key)); }

  id_span find(std::string_view key, std::uint64_t h) const {
    if (tags_.empty())
      return {};
    const std::uint64_t want = tag_of(h) * ones;
    for (std::size_t g = h & mask_;; g = (g + 1) & mask_) {
      const std::uint64_t tags = tags_[g];
      // Bytes equal to the tag; a byte above a true match may show up too,
      // which the key comparison sorts out. Empty bytes never do.
      const std::uint64_t x = tags ^ want;
      for (std::uint64_t match = (x - ones) & ~x & highs; match != 0; match &= match - 1) {
        // Record: key length, id count, the ids, then the key bytes.
        const std::uint32_t* r = records_.data() + offsets_[8 * g + __builtin_ctzll(match) / 8];
        if (r[0] == key.size() && same_bytes(reinterpret_cast<const char*>(r + 2 + r[1]), key.data(), key.size()))
          return {r + 2, r[1]};
      }
      // Keys fill the first group along their probe with room: one with an
      // empty slot ends the search.
      if (tags & highs)
        return {};
    }
  }

 private:
  static constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  static constexpr std::uint8_t empty_tag = 0x80;
  static std::uint64_t tag_of(std::uint64_t h) { return h >> 57; }

  std::vector<std::uint64_t> tags_;      // per group, 8 tag bytes, slot k of the group in byte k
  std::vector<std::uint32_t> offsets_;   // per slot: its record's offset into records_
  std::vector<std::uint32_t> records_;
  std::size_t mask_ = 0;                 // groups - 1
  std::map<std::string, std::vector<std::uint32_t>> pending_;
};

/// Prefixes (or suffixes) of every length in one string_table, a key's
/// length being part of its hash and of its record, with the distinct
/// lengths listed apart: a value costs at most one probe per length,
/// whatever the number of keys, and all the probes go to one table. A key's
/// record lists its own ids and those of every shorter key it starts (or
/// ends) with, so the longest key that fits the value reports them all and
/// the probes stop there, unless that copying would multiply the ids (a
/// short key under very many longer ones); then every length is probed.
class affix_table {
 public:
  explicit affix_table(bool suffixes = false) : suffixes_(suffixes) {}
  void add(std::string_view key, std::uint32_t id) { pending_[std::string(key)].push_back(id); }
  void finish();
  bool empty() const { return lengths_.empty(); }

  /// Calls f with the ids of every key that is a prefix of s (for a
  /// prefix table) or a suffix of s (for a suffix table).
  template <class F>
  void find(std::string_view s, F&& f) const {
    // Keys of up to 8 bytes hash from one word of s, masked per length;
    // longer keys hash their substring. Longest first.
    const std::size_t m = s.size() < 8 ? s.size() : 8;
    const std::uint64_t word = load_upto8(suffixes_ ? s.data() + s.size() - m : s.data(), m);
    for (auto it = lengths_.rbegin(); it != lengths_.rend(); ++it) {
      const std::size_t len = *it;
      if (len > s.size())
        continue;
      const std::string_view key(suffixes_ ? s.data() + s.size() - len : s.data(), len);
      std::uint64_t h;
      if (len <= 8) {
        const std::uint64_t part = suffixes_ ? (len == 0 ? 0 : word >> (8 * (m - len)))
                                             : (len == 8 ? word : word & ((std::uint64_t{1} << (8 * len)) - 1));
        h = hash_word(part, len, 0);
      } else {
        h = string_table::hash(key);
      }
      const id_span hit = keys_.find(key, h);
      if (hit.size) {
        f(hit);
        if (inherited_)
          return;
      }
    }
  }

 private:
  bool suffixes_;
  bool inherited_ = false;              // records hold the ids of shorter keys too
  std::vector<std::uint32_t> lengths_;  // distinct, ascending
  string_table keys_;
  std::map<std::string, std::vector<std::uint32_t>> pending_;
};

/// A number from an event: a float64, an integer of at most 2^53 in
/// magnitude (exactly a double too), or anything else as an exact decimal
/// (larger integers, decimal ext values). Doubles order like their shortest
/// decimals, so comparing doubles as doubles and the rest as decimals is one
/// consistent order by decimal value.
struct event_number {
  enum class kind : std::uint8_t { f64, i64, dec };
  kind type = kind::f64;
  double f = 0;
  std::int64_t i = 0;
  const decimal* dec = nullptr;
};

/// <0, 0, >0 as n is below, at, above the bound (`b`, whose shortest
/// decimal is `bdec`).
inline int compare_number(const event_number& n, double b, const decimal& bdec) {
  switch (n.type) {
    case event_number::kind::f64:
      return n.f < b ? -1 : (n.f > b ? 1 : 0);
    case event_number::kind::i64: {
      const auto d = static_cast<double>(n.i);
      return d < b ? -1 : (d > b ? 1 : 0);
    }
    case event_number::kind::dec:
      return compare(*n.dec, bdec);
  }
  return 1;
}

class numeric_index {
 public:
  void add(const value_test& t, std::uint32_t id);
  void finish();
  bool empty() const { return ranges_.empty(); }

  template <class F>
  void find(const event_number& n, F&& emit) const {
    if (!table_) {
      for (const range& r : ranges_)
        if (contains(r, n))
          emit(id_span{&r.id, 1});
      return;
    }
    std::size_t lo = 0, hi = bounds_.size();
    while (lo < hi) {
      const std::size_t mid = (lo + hi) / 2;
      if (compare_number(n, bounds_[mid], bound_decimals_[mid]) > 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    const bool at_bound = lo < bounds_.size() && compare_number(n, bounds_[lo], bound_decimals_[lo]) == 0;
    const std::size_t slot = 2 * lo + (at_bound ? 1 : 0);
    const std::uint32_t first = slot_offsets_[slot], last = slot_offsets_[slot + 1];
    if (last > first)
      emit(id_span{slot_ids_.data() + first, last - first});
  }

 private:
  struct range {
    bool has_lower = false, lower_inclusive = false, has_upper = false, upper_inclusive = false;
    double lower = 0, upper = 0;
    decimal lower_decimal, upper_decimal;
    std::uint32_t id = 0;
  };
  static bool contains(const range& r, const event_number& n);

  std::vector<range> ranges_;
  bool table_ = false;
  std::vector<double> bounds_;  // distinct, ascending
  std::vector<decimal> bound_decimals_;
  // Slot 2k: between bounds k-1 and k; 2k+1: at bound k; 2m: above the last.
  std::vector<std::uint32_t> slot_offsets_, slot_ids_;
};

class cidr_index {
 public:
  void add(const cidr_block& b, std::uint32_t id);
  void finish();
  bool empty() const { return v4_.empty() && v6_.empty(); }

  template <class F>
  void find(const ip_address& a, F&& f) const {
    for (const auto& [bits, table] : a.family == 4 ? v4_ : v6_) {
      ip_address m = a;
      mask_address(m, bits);
      char key[17];
      key[0] = static_cast<char>(m.family);
      std::memcpy(key + 1, m.bytes.data(), m.size());
      const id_span hit = table.find(std::string_view(key, 1 + m.size()));
      if (hit.size)
        f(hit);
    }
  }

 private:
  std::vector<std::pair<unsigned, string_table>> v4_, v6_;
};

class wildcard_index {
 public:
  void add(const value_test& t, std::uint32_t id);
  void finish();
  bool empty() const { return entries_.empty(); }

  template <class F>
  void find(std::string_view s, F&& f) const {
    auto confirm = [&](id_span candidates) {
      for (std::uint32_t k = 0; k < candidates.size; ++k) {
        const entry& e = entries_[candidates.data[k]];
        if (e.glob.match(s))
          f(id_span{e.ids.data(), static_cast<std::uint32_t>(e.ids.size())});
      }
    };
    by_prefix_.find(s, confirm);
    by_suffix_.find(s, confirm);
    if (!floating_.empty())
      confirm(id_span{floating_.data(), static_cast<std::uint32_t>(floating_.size())});
  }

 private:
  struct entry {
    wildcard glob;
    std::vector<std::uint32_t> ids;
  };
  std::vector<entry> entries_;
  std::map<std::string, std::uint32_t> by_source_;  // build time: dedupe
  affix_table by_prefix_, by_suffix_{true};          // ids are entry indices
  std::vector<std::uint32_t> floating_;             // "*x*": no literal end
};

/// One event value, as the index sees it.
struct leaf {
  enum class kind : std::uint8_t { null, is_true, is_false, number, string, other };
  kind type = kind::other;
  std::string_view text;  // string bytes; for a decimal number, its text
  event_number number;
};

/// Work shared by a field's positive and anything-but indexes for one value.
struct leaf_cache {
  bool folded = false, parsed_ip = false, keyed = false;
  std::string fold;
  std::optional<ip_address> ip;
  std::string_view key;
  char double_key_buf[double_key_size];
  std::string key_buf;

  void reset() { folded = parsed_ip = keyed = false; }
  std::string_view number_key(const leaf& v);
};

class value_index {
 public:
  void add(const value_test& t, std::uint32_t id);
  void finish();
  bool empty() const { return empty_; }

  /// Calls `each(id_span)` for the ids of every test `v` passes (an id
  /// may come more than once).
  template <class F>
  void find(const leaf& v, leaf_cache& cache, F&& each) const {
    switch (v.type) {
      case leaf::kind::string: {
        // Start the exact lookup's cache miss, do the rest, then probe.
        std::uint64_t exact_hash = 0;
        if (!exact_.empty()) {
          exact_hash = string_table::hash(v.text);
          exact_.prefetch(exact_hash);
        }
        if (addresses_used_) {
          if (!cache.parsed_ip) {
            cache.ip = parse_ip(v.text);
            cache.parsed_ip = true;
          }
          if (cache.ip) {
            if (!addresses_.empty()) {
              char key[17];
              key[0] = static_cast<char>(cache.ip->family);
              std::memcpy(key + 1, cache.ip->bytes.data(), cache.ip->size());
              each(addresses_.find(std::string_view(key, 1 + cache.ip->size())));
            }
            cidrs_.find(*cache.ip, each);
          }
        }
        // (Emptiness is tested here so that a field without prefixes or
        // suffixes does not pay for a call.)
        if (!prefixes_.empty())
          prefixes_.find(v.text, each);
        if (!suffixes_.empty())
          suffixes_.find(v.text, each);
        if (fold_used_) {
          if (!cache.folded) {
            fold_utf8(v.text, cache.fold);
            cache.folded = true;
          }
          if (!folded_.empty())
            each(folded_.find(cache.fold));
          if (!folded_prefixes_.empty())
            folded_prefixes_.find(cache.fold, each);
          if (!folded_suffixes_.empty())
            folded_suffixes_.find(cache.fold, each);
        }
        if (!wildcards_.empty())
          wildcards_.find(v.text, each);
        if (!exact_.empty())
          each(exact_.find(v.text, exact_hash));
        break;
      }
      case leaf::kind::number:
        if (!numbers_.empty())
          each(numbers_.find(cache.number_key(v)));
        if (!numeric_.empty())
          numeric_.find(v.number, each);
        break;
      case leaf::kind::is_true:
        if (!on_true_.empty())
          each(id_span{on_true_.data(), static_cast<std::uint32_t>(on_true_.size())});
        break;
      case leaf::kind::is_false:
        if (!on_false_.empty())
          each(id_span{on_false_.data(), static_cast<std::uint32_t>(on_false_.size())});
        break;
      case leaf::kind::null:
        if (!on_null_.empty())
          each(id_span{on_null_.data(), static_cast<std::uint32_t>(on_null_.size())});
        break;
      case leaf::kind::other:
        break;
    }
    if (!on_any_.empty())
      each(id_span{on_any_.data(), static_cast<std::uint32_t>(on_any_.size())});
  }

 private:
  string_table exact_, addresses_, numbers_, folded_;
  affix_table prefixes_, suffixes_{true}, folded_prefixes_, folded_suffixes_{true};
  wildcard_index wildcards_;
  numeric_index numeric_;
  cidr_index cidrs_;
  std::vector<std::uint32_t> on_true_, on_false_, on_null_, on_any_;
  bool addresses_used_ = false, fold_used_ = false, empty_ = true;
};

} // namespace troupe::rules::detail
