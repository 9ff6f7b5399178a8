#include "rules/pattern.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "rules/case_fold.hpp"
#include "rules/json.hpp"
#include "rules/numbers.hpp"

namespace troupe::rules {

std::string pattern_error::to_string() const {
  return path.empty() ? message : path + ": " + message;
}

namespace detail {

namespace {

using kind = json_value::kind;

constexpr const char* known_operators =
    "anything-but, cidr, equals-ignore-case, exactly, exists, numeric, prefix, suffix, wildcard";

// Length-prefixed, so that identities built from parts never collide.
void append_part(std::string& out, std::string_view part) {
  const auto n = static_cast<std::uint32_t>(part.size());
  char len[4];
  std::memcpy(len, &n, sizeof n);
  out.append(len, sizeof len);
  out.append(part);
}

std::string index_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::string member_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// The members of an object with duplicates removed, the last copy winning.
std::vector<const json_value*> last_wins(const json_value& obj) {
  std::vector<const json_value*> out;
  for (std::size_t i = 0; i < obj.items.size(); ++i) {
    bool later = false;
    for (std::size_t j = i + 1; j < obj.items.size() && !later; ++j)
      later = obj.items[j].key == obj.items[i].key;
    if (!later)
      out.push_back(&obj.items[i]);
  }
  return out;
}

void set_identity(value_test& t) {
  std::string id;
  id.push_back(static_cast<char>(t.kind));
  switch (t.kind) {
    case test_kind::numeric: {
      char b[2 * sizeof(double) + 4];
      std::memcpy(b, &t.lower, sizeof(double));
      std::memcpy(b + sizeof(double), &t.upper, sizeof(double));
      b[16] = static_cast<char>(t.has_lower);
      b[17] = static_cast<char>(t.lower_inclusive);
      b[18] = static_cast<char>(t.has_upper);
      b[19] = static_cast<char>(t.upper_inclusive);
      append_part(id, std::string_view(b, sizeof b));
      break;
    }
    case test_kind::cidr:
      append_part(id, address_key(t.block.network));
      id.push_back(static_cast<char>(t.block.bits));
      break;
    case test_kind::anything_but: {
      std::vector<std::string> parts;
      for (const auto& e : t.excluded)
        parts.push_back(e.identity);
      std::sort(parts.begin(), parts.end());
      parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
      for (const auto& p : parts)
        append_part(id, p);
      break;
    }
    default:
      append_part(id, t.text);
  }
  t.identity = std::move(id);
}

class compiler {
 public:
  std::optional<pattern_error> error;

  // Compiles the members of `obj` found at match path `prefix` (`at_root`:
  // no prefix yet) into alternatives.
  bool object(const json_value& obj, const std::string& prefix, bool at_root, const std::string& where,
              std::size_t depth, std::vector<alternative>& out) {
    if (depth > limits::max_pattern_depth)
      return fail(where, "nested deeper than " + std::to_string(limits::max_pattern_depth) + " objects");
    if (obj.items.empty())
      return fail(where, "an empty object matches nothing; give at least one field");
    std::vector<alternative> alts(1);
    for (const json_value* m : last_wins(obj)) {
      const std::string here = member_path(where, m->key);
      const std::string path = at_root ? m->key : prefix + "." + m->key;
      std::vector<alternative> part;
      bool ok;
      if (m->key == "$or" && m->is(kind::array)) {
        ok = or_group(*m, prefix, at_root, here, path, depth, part);
      } else if (m->key == "$or" && m->is(kind::object)) {
        // event-ruler reads this as a field named "$or"; almost surely a typo
        // for an array of branches, so troupe refuses it.
        ok = fail(here, "$or takes an array of at least two patterns, not an object");
      } else if (m->is(kind::array)) {
        ok = leaf(*m, path, here, part);
      } else if (m->is(kind::object)) {
        ok = object(*m, path, false, here, depth + 1, part);
      } else {
        ok = fail(here, std::string("must be an array of values to match, or an object of fields; not ") +
                            describe(m->type));
      }
      if (!ok)
        return false;
      if (!multiply(alts, part, here))
        return false;
    }
    out = std::move(alts);
    return true;
  }

 private:
  bool fail(const std::string& where, const std::string& message) {
    if (!error)
      error = pattern_error{where, message};
    return false;
  }

  bool multiply(std::vector<alternative>& alts, const std::vector<alternative>& part, const std::string& where) {
    if (part.size() == 1) {
      for (auto& a : alts) {
        a.fields.insert(a.fields.end(), part[0].fields.begin(), part[0].fields.end());
        a.absent.insert(a.absent.end(), part[0].absent.begin(), part[0].absent.end());
      }
      return true;
    }
    if (alts.size() * part.size() > limits::max_alternatives)
      return fail(where, "the rule expands to more than " + std::to_string(limits::max_alternatives) +
                             " alternatives ($or branches multiply)");
    std::vector<alternative> product;
    product.reserve(alts.size() * part.size());
    for (const auto& a : alts) {
      for (const auto& p : part) {
        alternative c = a;
        c.fields.insert(c.fields.end(), p.fields.begin(), p.fields.end());
        c.absent.insert(c.absent.end(), p.absent.begin(), p.absent.end());
        product.push_back(std::move(c));
      }
    }
    alts = std::move(product);
    return true;
  }

  // "$or": [ {...}, {...} ] is a disjunction. When the array is not a list
  // of patterns (values, or matcher objects such as {"prefix": "a"}),
  // EventBridge reads "$or" as a plain field name, and so does troupe.
  bool or_group(const json_value& arr, const std::string& prefix, bool at_root, const std::string& where,
                const std::string& path, std::size_t depth, std::vector<alternative>& out) {
    const bool all_objects = std::all_of(arr.items.begin(), arr.items.end(),
                                         [](const json_value& v) { return v.is(kind::object); });
    if (!all_objects)
      return leaf(arr, path, where, out);
    std::optional<pattern_error> or_error;
    if (arr.items.size() < 2) {
      or_error = pattern_error{where, "$or needs at least two patterns"};
    } else {
      std::vector<alternative> branches;
      bool ok = true;
      for (std::size_t i = 0; i < arr.items.size() && ok; ++i) {
        std::vector<alternative> b;
        ok = object(arr.items[i], prefix, at_root, index_path(where, i), depth + 1, b);
        if (ok && branches.size() + b.size() > limits::max_alternatives)
          ok = fail(where, "the rule expands to more than " + std::to_string(limits::max_alternatives) +
                               " alternatives ($or branches multiply)");
        branches.insert(branches.end(), b.begin(), b.end());
      }
      if (ok) {
        out = std::move(branches);
        return true;
      }
      or_error = error;
      error.reset();
    }
    if (leaf(arr, path, where, out)) {
      return true;
    }
    error = or_error;
    return false;
  }

  bool leaf(const json_value& arr, const std::string& path, const std::string& where,
            std::vector<alternative>& out) {
    if (arr.items.empty())
      return fail(where, "an empty array matches nothing; list at least one value");
    if (arr.items.size() > limits::max_values)
      return fail(where, "more than " + std::to_string(limits::max_values) + " values");
    field_test field;
    field.path = path;
    bool absent = false;
    for (std::size_t i = 0; i < arr.items.size(); ++i) {
      const json_value& item = arr.items[i];
      const std::string here = index_path(where, i);
      value_test t;
      switch (item.type) {
        case kind::string:
          t = exact_string(item.text);
          break;
        case kind::number:
          if (!exact_number(item.text, here, t))
            return false;
          break;
        case kind::boolean:
          t.kind = item.boolean ? test_kind::exact_true : test_kind::exact_false;
          set_identity(t);
          break;
        case kind::null:
          t.kind = test_kind::exact_null;
          set_identity(t);
          break;
        case kind::array:
          return fail(here, "nested arrays are not allowed; list the values directly");
        case kind::object: {
          bool exists_false = false;
          if (!matcher_object(item, here, t, exists_false))
            return false;
          if (exists_false) {
            absent = true;
            continue;
          }
          break;
        }
      }
      field.values.push_back(std::move(t));
    }
    // exists:false next to other values is "absent, or one of those".
    if (absent)
      out.push_back(alternative{{}, {path}});
    if (!field.values.empty())
      out.push_back(alternative{{std::move(field)}, {}});
    return true;
  }

  static value_test exact_string(const std::string& s) {
    value_test t;
    t.kind = test_kind::exact_string;
    t.text = s;
    if (auto a = parse_ip(s)) {
      t.is_address = true;
      t.address = *a;
    }
    set_identity(t);
    return t;
  }

  bool exact_number(const std::string& text, const std::string& where, value_test& t) {
    auto n = classify_number(text);
    if (!n)
      return fail(where, "number " + text + " is out of range");
    t.kind = test_kind::exact_number;
    t.text = key_of(*n);
    set_identity(t);
    return true;
  }

  bool string_operand(const json_value& v, const std::string& where, const char* op, std::string& out) {
    if (!v.is(kind::string))
      return fail(where, std::string(op) + " takes a string, not " + describe(v.type));
    out = v.text;
    return true;
  }

  static std::string fold(const std::string& s) {
    std::string f;
    fold_utf8(s, f);
    return f;
  }

  bool matcher_object(const json_value& obj, const std::string& where, value_test& t, bool& exists_false) {
    const auto members = last_wins(obj);
    if (members.empty())
      return fail(where, std::string("an empty object is not a matcher; use one of ") + known_operators);
    if (members.size() > 1)
      return fail(where, "a matcher object holds exactly one operator, this one has " +
                             std::to_string(members.size()));
    const json_value& v = *members[0];
    const std::string& op = v.key;
    const std::string here = where + "." + op;
    if (op == "prefix" || op == "suffix") {
      const bool is_prefix = op == "prefix";
      if (v.is(kind::object)) {
        const auto inner = last_wins(v);
        if (inner.size() != 1 || inner[0]->key != "equals-ignore-case")
          return fail(here, op + " takes a string or {\"equals-ignore-case\": string}");
        std::string s;
        if (!string_operand(*inner[0], here + ".equals-ignore-case", "equals-ignore-case", s))
          return false;
        t.kind = is_prefix ? test_kind::prefix_ignore_case : test_kind::suffix_ignore_case;
        t.text = fold(s);
      } else {
        if (!v.is(kind::string))
          return fail(here, op + " takes a string or {\"equals-ignore-case\": string}, not " + describe(v.type));
        t.kind = is_prefix ? test_kind::prefix : test_kind::suffix;
        t.text = v.text;
      }
    } else if (op == "equals-ignore-case") {
      std::string s;
      if (!string_operand(v, here, "equals-ignore-case", s))
        return false;
      t.kind = test_kind::equals_ignore_case;
      t.text = fold(s);
    } else if (op == "exactly") {
      if (!string_operand(v, here, "exactly", t.text))
        return false;
      t.kind = test_kind::exactly;
    } else if (op == "wildcard") {
      if (!wildcard_test(v, here, t))
        return false;
    } else if (op == "numeric") {
      if (!numeric(v, here, t))
        return false;
    } else if (op == "exists") {
      if (!v.is(kind::boolean))
        return fail(here, std::string("exists takes true or false, not ") + describe(v.type));
      if (!v.boolean) {
        exists_false = true;
        return true;
      }
      t.kind = test_kind::exists;
    } else if (op == "cidr") {
      std::string s;
      if (!string_operand(v, here, "cidr", s))
        return false;
      std::string why;
      auto block = parse_cidr(s, why);
      if (!block)
        return fail(here, why);
      t.kind = test_kind::cidr;
      t.block = *block;
    } else if (op == "anything-but") {
      if (!anything_but(v, here, t))
        return false;
    } else {
      return fail(here, "unknown operator \"" + op + "\" (known: " + known_operators + ")");
    }
    set_identity(t);
    return true;
  }

  bool wildcard_test(const json_value& v, const std::string& where, value_test& t) {
    if (!v.is(kind::string))
      return fail(where, std::string("wildcard takes a string, not ") + describe(v.type));
    std::string why;
    auto w = parse_wildcard(v.text, why);
    if (!w)
      return fail(where, why);
    if (w->segments.size() == 1) {
      // No star: the value itself, compared byte for byte.
      t.kind = test_kind::exactly;
      t.text = w->segments[0];
    } else {
      t.kind = test_kind::wildcard;
      t.text = v.text;
      t.glob = std::move(*w);
    }
    set_identity(t);
    return true;
  }

  bool numeric(const json_value& v, const std::string& where, value_test& t) {
    static const char* usage = "numeric takes [op, number] or a range [\">\" or \">=\", number, \"<\" or \"<=\", number]";
    if (!v.is(kind::array))
      return fail(where, std::string(usage) + "; got " + describe(v.type));
    const auto& items = v.items;
    if (items.size() != 2 && items.size() != 4)
      return fail(where, std::string(usage) + "; got " + std::to_string(items.size()) + " elements");
    std::string ops[2];
    double bounds[2] = {0, 0};
    for (std::size_t k = 0; k < items.size() / 2; ++k) {
      const json_value& op = items[2 * k];
      const json_value& num = items[2 * k + 1];
      const std::string op_at = index_path(where, 2 * k), num_at = index_path(where, 2 * k + 1);
      if (!op.is(kind::string) ||
          (op.text != "=" && op.text != "<" && op.text != "<=" && op.text != ">" && op.text != ">="))
        return fail(op_at, "unknown comparison " + (op.is(kind::string) ? "\"" + op.text + "\"" : describe(op.type)) +
                               " (use =, <, <=, > or >=)");
      if (!num.is(kind::number))
        return fail(num_at, std::string("a numeric bound must be a number, not ") + describe(num.type));
      auto n = classify_number(num.text);
      if (!n)
        return fail(num_at, "number " + num.text + " is out of range");
      if (!n->is_double)
        return fail(num_at, "numeric bounds must be exactly a double; " + num.text +
                                (std::isfinite(n->as_double) && n->as_double != 0
                                     ? " is not (the nearest is " + shortest_text(n->as_double) + ")"
                                     : " is not"));
      ops[k] = op.text;
      bounds[k] = n->as_double;
    }
    t.kind = test_kind::numeric;
    auto lower = [&](const std::string& op, double b) {
      t.has_lower = true;
      t.lower = b;
      t.lower_inclusive = op == ">=";
    };
    auto upper = [&](const std::string& op, double b) {
      t.has_upper = true;
      t.upper = b;
      t.upper_inclusive = op == "<=";
    };
    if (items.size() == 2) {
      if (ops[0] == "=") {
        lower(">=", bounds[0]);
        upper("<=", bounds[0]);
      } else if (ops[0][0] == '>') {
        lower(ops[0], bounds[0]);
      } else {
        upper(ops[0], bounds[0]);
      }
      return true;
    }
    if (ops[0] == "=" || ops[1] == "=")
      return fail(where, "\"=\" cannot be part of a range");
    if (ops[0][0] != '>')
      return fail(index_path(where, 0), "a range starts with its lower bound (\">\" or \">=\")");
    if (ops[1][0] != '<')
      return fail(index_path(where, 2), "a range ends with its upper bound (\"<\" or \"<=\")");
    if (!(bounds[0] < bounds[1]))
      return fail(where, "the lower bound must be below the upper bound");
    lower(ops[0], bounds[0]);
    upper(ops[1], bounds[1]);
    return true;
  }

  bool anything_but(const json_value& v, const std::string& where, value_test& t) {
    t.kind = test_kind::anything_but;
    switch (v.type) {
      case kind::string:
        t.excluded.push_back(exact_string(v.text));
        return true;
      case kind::number: {
        value_test n;
        if (!exact_number(v.text, where, n))
          return false;
        t.excluded.push_back(std::move(n));
        return true;
      }
      case kind::array: {
        if (v.items.empty())
          return fail(where, "an empty anything-but list excludes nothing; list at least one value");
        if (v.items.size() > limits::max_values)
          return fail(where, "more than " + std::to_string(limits::max_values) + " values");
        const kind first = v.items[0].type;
        for (std::size_t i = 0; i < v.items.size(); ++i) {
          const json_value& item = v.items[i];
          const std::string here = index_path(where, i);
          if (item.type != kind::string && item.type != kind::number)
            return fail(here, std::string("anything-but lists hold strings or numbers, not ") + describe(item.type));
          if (item.type != first)
            return fail(here, "anything-but lists hold only strings or only numbers, not both");
          if (item.is(kind::string)) {
            t.excluded.push_back(exact_string(item.text));
          } else {
            value_test n;
            if (!exact_number(item.text, here, n))
              return false;
            t.excluded.push_back(std::move(n));
          }
        }
        return true;
      }
      case kind::object:
        return anything_but_operator(v, where, t);
      default:
        return fail(where, std::string("anything-but takes a string, a number, a list of either, or an object "
                                       "with prefix, suffix, equals-ignore-case or wildcard; not ") +
                               describe(v.type));
    }
  }

  bool anything_but_operator(const json_value& obj, const std::string& where, value_test& t) {
    const auto members = last_wins(obj);
    if (members.size() != 1)
      return fail(where, "anything-but takes an object with exactly one of prefix, suffix, "
                         "equals-ignore-case or wildcard");
    const json_value& v = *members[0];
    const std::string& op = v.key;
    const std::string here = where + "." + op;
    if (op != "prefix" && op != "suffix" && op != "equals-ignore-case" && op != "wildcard")
      return fail(here, "anything-but supports prefix, suffix, equals-ignore-case and wildcard, not \"" + op + "\"");
    std::vector<std::pair<const json_value*, std::string>> operands;
    if (v.is(kind::string)) {
      operands.emplace_back(&v, here);
    } else if (v.is(kind::array) && !v.items.empty() && v.items.size() <= limits::max_values) {
      for (std::size_t i = 0; i < v.items.size(); ++i)
        operands.emplace_back(&v.items[i], index_path(here, i));
    } else {
      return fail(here, "anything-but " + op + " takes a string or a non-empty list of strings");
    }
    for (const auto& [operand, at] : operands) {
      if (!operand->is(kind::string))
        return fail(at, "anything-but " + op + " takes strings, not " + describe(operand->type));
      value_test e;
      const std::string& s = operand->text;
      if (op == "prefix" || op == "suffix") {
        // An empty prefix or suffix would exclude every string.
        if (s.empty())
          return fail(at, "anything-but " + op + " must not be empty");
        e.kind = op == "prefix" ? test_kind::prefix : test_kind::suffix;
        e.text = s;
        set_identity(e);
      } else if (op == "equals-ignore-case") {
        e.kind = test_kind::equals_ignore_case;
        e.text = fold(s);
        set_identity(e);
      } else if (!wildcard_test(*operand, at, e)) {
        return false;
      }
      t.excluded.push_back(std::move(e));
    }
    return true;
  }
};

// Sorts and deduplicates values, fields and absent paths so that equal
// tests get equal identities (and are evaluated once per event).
void normalize(alternative& a) {
  for (auto& f : a.fields) {
    std::sort(f.values.begin(), f.values.end(),
              [](const value_test& x, const value_test& y) { return x.identity < y.identity; });
    f.values.erase(std::unique(f.values.begin(), f.values.end(),
                               [](const value_test& x, const value_test& y) { return x.identity == y.identity; }),
                   f.values.end());
    f.identity.clear();
    append_part(f.identity, f.path);
    for (const auto& v : f.values)
      append_part(f.identity, v.identity);
  }
  std::sort(a.fields.begin(), a.fields.end(),
            [](const field_test& x, const field_test& y) { return x.identity < y.identity; });
  a.fields.erase(std::unique(a.fields.begin(), a.fields.end(),
                             [](const field_test& x, const field_test& y) { return x.identity == y.identity; }),
                 a.fields.end());
  std::sort(a.absent.begin(), a.absent.end());
  a.absent.erase(std::unique(a.absent.begin(), a.absent.end()), a.absent.end());
}

} // namespace

result<rule_pattern, pattern_error> compile_pattern(std::string_view json) {
  if (json.size() > limits::max_pattern_bytes)
    return pattern_error{"", "the pattern is " + std::to_string(json.size()) + " bytes, more than the limit of " +
                                 std::to_string(limits::max_pattern_bytes)};
  std::string why;
  auto doc = parse_json(json, &why, 2 * limits::max_pattern_depth + 8);
  if (!doc)
    return pattern_error{"", "invalid JSON: " + why};
  if (!doc->is(json_value::kind::object))
    return pattern_error{"", std::string("a pattern must be a JSON object, not ") + describe(doc->type)};
  compiler c;
  rule_pattern p;
  if (!c.object(*doc, "", true, "", 1, p.alternatives))
    return *c.error;
  for (auto& a : p.alternatives)
    normalize(a);
  return p;
}

} // namespace detail

result<void, pattern_error> validate(std::string_view pattern_json) {
  auto r = detail::compile_pattern(pattern_json);
  if (!r)
    return r.err();
  return {};
}

} // namespace troupe::rules
