#include "actors/runtime/trace_journal.hpp"

#include <functional>
#include <map>

#include <msgpack.hpp>

#include "wire/msgpack_io.hpp"

namespace troupe::runtime {

namespace {

using packer = msgpack::packer<wire::string_sink>;

// Records carry a version first, so that a later layout can still read them.
constexpr std::uint32_t record_version = 1;

// Error texts in the journal are cut here: a record stays small whatever a
// handler says.
constexpr std::size_t max_error_text = 1024;

std::string cut(const std::string& s) {
  if (s.size() <= max_error_text)
    return s;
  auto n = max_error_text;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80)
    --n;  // not inside a UTF-8 sequence
  return s.substr(0, n) + "...";
}

}  // namespace

store::trace_row event_record(const wire::envelope& ev) {
  store::trace_row r;
  r.corr = ev.correlation_id;
  r.at_ms = ev.time_ms;
  r.kind = store::trace_row::event;
  r.event_id = ev.id;
  r.type = ev.detail_type;
  wire::string_sink sink{r.rec};
  packer pk(sink);
  pk.pack_array(5);
  pk.pack_uint32(record_version);
  pk.pack(ev.source);
  pk.pack(ev.causation_id);
  pk.pack_uint64(ev.seq);
  pk.pack_uint64(ev.epoch);
  return r;
}

const char* kind_name(int kind) {
  switch (kind) {
    case store::trace_row::event: return "event";
    case store::trace_row::ok: return "ok";
    case store::trace_row::retry: return "retry";
    case store::trace_row::failed: return "failed";
    case store::trace_row::expired: return "expired";
    default: return "unknown";
  }
}

store::trace_row attempt_record(const answer& a, store::trace_row::kind_t outcome, std::int64_t due_ms) {
  store::trace_row r;
  const auto& ev = *a.d.ev;
  r.corr = ev.correlation_id;
  r.at_ms = a.at_ms;
  r.kind = outcome;
  r.event_id = ev.id;
  r.type = ev.detail_type;
  wire::string_sink sink{r.rec};
  packer pk(sink);
  pk.pack_array(10);
  pk.pack_uint32(record_version);
  pk.pack(a.d.rule);
  pk.pack(a.d.target);
  pk.pack_int32(a.d.retry.attempt);
  pk.pack(a.error_code);
  pk.pack(cut(a.error));
  pk.pack_int64(a.handler_us);
  pk.pack_int64(due_ms);
  pk.pack_int64(a.d.retry.first_ms);
  pk.pack(a.d.retry.age_from_ms != 0 && a.d.retry.age_from_ms != a.d.ev->time_ms && !a.d.hold ? true : false);
  return r;
}

nlohmann::json record_json(const store::trace_row& row) {
  nlohmann::json j{{"kind", kind_name(row.kind)},
                   {"at_ms", row.at_ms},
                   {"event", row.event_id},
                   {"type", row.type}};
  auto rec = nlohmann::json::from_msgpack(row.rec, true, false);
  if (!rec.is_array() || rec.empty() || rec[0] != record_version) {
    j["unreadable"] = true;
    return j;
  }
  const auto at = [&](std::size_t i) { return i < rec.size() ? rec[i] : nlohmann::json(); };
  if (row.kind == store::trace_row::event) {
    j["source"] = at(1);
    j["causation"] = at(2);
    j["seq"] = at(3);
    j["epoch"] = at(4);
  } else {
    j["rule"] = at(1);
    j["target"] = at(2);
    j["attempt"] = at(3);
    j["error_code"] = at(4);
    j["error"] = at(5);
    j["handler_us"] = at(6);
    j["due_ms"] = at(7);
    j["first_ms"] = at(8);
    j["redrive"] = at(9);
  }
  return j;
}

namespace {

store::trace_row row_of(store::statement& s) {
  store::trace_row r;
  r.corr = s.text(0);
  r.at_ms = s.int64(1);
  r.kind = static_cast<int>(s.int64(2));
  r.event_id = s.text(3);
  r.type = s.text(4);
  r.rec = std::string(s.blob(5));
  return r;
}

/// Steps `s` (which asks for `limit` + 1 rows), calling `fn` on each of the
/// first `limit`; whether another followed.
result<bool> rows_up_to(store::statement& s, std::size_t limit, const std::function<void(store::statement&)>& fn) {
  for (std::size_t n = 0;; ++n) {
    auto row = s.step();
    TROUPE_TRY(row);
    if (!*row)
      return false;
    if (n == limit)
      return true;
    fn(s);
  }
}

/// The deliveries waiting in the inbox, by saga: `only` when it names one.
result<std::map<std::string, nlohmann::json>> pending_deliveries(store::database& db, const std::string* only) {
  std::map<std::string, nlohmann::json> out;
  auto s = db.prepare("SELECT id, target, rule, bytes, attempt, due_ms, first_ms FROM inbox ORDER BY id");
  TROUPE_TRY(s);
  for (;;) {
    auto row = s->step();
    TROUPE_TRY(row);
    if (!*row)
      break;
    auto ev = wire::decode(s->blob(3));
    if (!ev || (only && ev->correlation_id != *only))
      continue;
    auto& list = out[ev->correlation_id];
    if (!list.is_array())
      list = nlohmann::json::array();
    list.push_back({{"event", ev->id},
                    {"type", ev->detail_type},
                    {"target", s->text(1)},
                    {"rule", s->text(2)},
                    {"attempt", s->int64(4)},
                    {"due_ms", s->int64(5)},
                    {"first_ms", s->int64(6)}});
  }
  return out;
}

}  // namespace

result<nlohmann::json> read_saga(store::database& db, const std::string& corr, std::size_t limit) {
  auto s = db.prepare("SELECT corr, at_ms, kind, event, type, rec FROM trace WHERE corr = ? ORDER BY id LIMIT ?");
  TROUPE_TRY(s);
  s->bind(1, corr).bind(2, static_cast<std::int64_t>(limit) + 1);
  nlohmann::json records = nlohmann::json::array();
  auto truncated = rows_up_to(*s, limit, [&](store::statement& r) { records.push_back(record_json(row_of(r))); });
  TROUPE_TRY(truncated);
  auto pending = pending_deliveries(db, &corr);
  TROUPE_TRY(pending);
  auto it = pending->find(corr);
  return nlohmann::json{{"records", std::move(records)},
                        {"pending", it == pending->end() ? nlohmann::json::array() : std::move(it->second)},
                        {"truncated", *truncated}};
}

result<sagas_query> parse_sagas_query(const nlohmann::json& args) {
  sagas_query q;
  if (!args.is_object())
    return error{wire::errc::invalid_field, "sagas: the arguments must be a JSON object"};
  const auto strings = [&](const char* key, std::vector<std::string>& out) -> result<void> {
    if (!args.contains(key))
      return {};
    const auto& v = args[key];
    if (!v.is_array())
      return error{wire::errc::invalid_field, std::string("sagas: '") + key + "' must be a list of strings"};
    for (const auto& x : v) {
      if (!x.is_string())
        return error{wire::errc::invalid_field, std::string("sagas: '") + key + "' must be a list of strings"};
      out.push_back(x.get<std::string>());
    }
    return {};
  };
  TROUPE_TRY(strings("terminal", q.terminal));
  TROUPE_TRY(strings("ids", q.ids));
  const auto number = [&](const char* key, std::int64_t& out, std::int64_t lo, std::int64_t hi) -> result<void> {
    if (!args.contains(key))
      return {};
    const auto& v = args[key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi)
      return error{wire::errc::invalid_field,
                   std::string("sagas: '") + key + "' must be an integer from " + std::to_string(lo) + " to "
                       + std::to_string(hi)};
    out = v.get<std::int64_t>();
    return {};
  };
  std::int64_t limit = static_cast<std::int64_t>(q.limit);
  TROUPE_TRY(number("quiet_before_ms", q.quiet_before_ms, 0, INT64_MAX));
  TROUPE_TRY(number("since_ms", q.since_ms, 0, INT64_MAX));
  TROUPE_TRY(number("limit", limit, 1, 100000));
  q.limit = static_cast<std::size_t>(limit);
  if (args.contains("open_only")) {
    if (!args["open_only"].is_boolean())
      return error{wire::errc::invalid_field, "sagas: 'open_only' must be true or false"};
    q.open_only = args["open_only"].get<bool>();
  }
  if (q.ids.size() > 20000)
    return error{wire::errc::invalid_field, "sagas: at most 20000 ids at once"};
  return q;
}

result<nlohmann::json> read_sagas(store::database& db, const sagas_query& q) {
  // One pass over the journal by saga (its index), or a probe per id asked.
  // Numbered parameters: the terminal types appear twice.
  int k = 0;
  std::string terminal = "0";
  if (!q.terminal.empty()) {
    terminal = "type IN (";
    for (std::size_t i = 0; i < q.terminal.size(); ++i)
      terminal += (i ? ", ?" : "?") + std::to_string(++k);
    terminal += ")";
  }
  // SQLite takes the bare columns of an aggregate row with one max() from
  // the row that holds the maximum: the saga's last record here.
  std::string sql = "SELECT corr, (SELECT f.at_ms FROM trace f WHERE f.corr = trace.corr ORDER BY f.id LIMIT 1), "
                    "at_ms, sum(kind = 0), sum(kind > 0), sum(" + terminal + "), event, type, kind, max(id), "
                    "sum(kind = 2), sum(kind >= 3) FROM trace";
  const int ids_at = q.ids.empty() ? 0 : ++k;
  if (ids_at)
    sql += " WHERE corr IN (SELECT value FROM json_each(?" + std::to_string(ids_at) + "))";
  sql += " GROUP BY corr HAVING 1";
  const int since_at = q.since_ms ? ++k : 0;
  if (since_at)
    sql += " AND at_ms >= ?" + std::to_string(since_at);
  const int quiet_at = q.quiet_before_ms ? ++k : 0;
  if (quiet_at)
    sql += " AND at_ms < ?" + std::to_string(quiet_at);
  if (q.open_only)
    sql += " AND sum(" + terminal + ") = 0";
  const int limit_at = ++k;
  sql += " ORDER BY max(id) DESC LIMIT ?" + std::to_string(limit_at);
  auto s = db.prepare(sql);
  TROUPE_TRY(s);
  for (std::size_t i = 0; i < q.terminal.size(); ++i)
    s->bind(static_cast<int>(i) + 1, q.terminal[i]);
  if (ids_at)
    s->bind(ids_at, nlohmann::json(q.ids).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (since_at)
    s->bind(since_at, q.since_ms);
  if (quiet_at)
    s->bind(quiet_at, q.quiet_before_ms);
  s->bind(limit_at, static_cast<std::int64_t>(q.limit) + 1);
  nlohmann::json sagas = nlohmann::json::array();
  auto truncated = rows_up_to(*s, q.limit, [&](store::statement& r) {
    const auto* s = &r;
    sagas.push_back({{"id", s->text(0)},
                     {"first_ms", s->int64(1)},
                     {"last_ms", s->int64(2)},
                     {"events", s->int64(3)},
                     {"attempts", s->int64(4)},
                     {"terminal", s->int64(5) != 0},
                     {"last", {{"event", s->text(6)}, {"type", s->text(7)}, {"kind", kind_name(static_cast<int>(s->int64(8)))}}},
                     {"retries", s->int64(10)},
                     {"failures", s->int64(11)}});
  });
  TROUPE_TRY(truncated);
  auto pending = pending_deliveries(db, nullptr);
  TROUPE_TRY(pending);
  nlohmann::json waiting = nlohmann::json::object();
  const std::set<std::string> wanted(q.ids.begin(), q.ids.end());
  for (auto& [corr, list] : *pending)
    if (wanted.empty() || wanted.count(corr))
      waiting[corr] = std::move(list);
  return nlohmann::json{{"sagas", std::move(sagas)}, {"pending", std::move(waiting)}, {"truncated", *truncated}};
}

result<nlohmann::json> read_unacked(store::database& db,
                                    const std::vector<std::pair<std::string, std::uint64_t>>& streams,
                                    std::size_t limit) {
  // The outbox's keys are a stream's number above 44 bits of seq
  // (store/node_store.cpp).
  auto s = db.prepare("SELECT o.seq, o.bytes FROM outbox o, streams s WHERE s.stream = ? "
                      "AND o.k > (s.num << 44) + ? AND o.k < ((s.num + 1) << 44) ORDER BY o.k LIMIT ?");
  TROUPE_TRY(s);
  auto out = nlohmann::json::array();
  for (const auto& [stream, from] : streams) {
    if (out.size() >= limit)
      break;
    s->bind(1, stream).bind(2, static_cast<std::int64_t>(from)).bind(3, static_cast<std::int64_t>(limit - out.size()));
    for (;;) {
      auto row = s->step();
      TROUPE_TRY(row);
      if (!*row)
        break;
      auto ev = wire::decode(s->blob(1));
      if (!ev)
        continue;
      out.push_back({{"corr", ev->correlation_id}, {"event", ev->id}, {"type", ev->detail_type}, {"seq", s->int64(0)}});
    }
    s->reset();
  }
  return out;
}

result<std::vector<std::pair<std::string, std::int64_t>>> read_oldest_unacked(
    store::database& db, const std::vector<std::pair<std::string, std::uint64_t>>& streams) {
  auto s = db.prepare("SELECT o.time_ms FROM outbox o, streams s WHERE s.stream = ? "
                      "AND o.k > (s.num << 44) + ? AND o.k < ((s.num + 1) << 44) ORDER BY o.k LIMIT 1");
  TROUPE_TRY(s);
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& [stream, from] : streams) {
    s->bind(1, stream).bind(2, static_cast<std::int64_t>(from));
    auto row = s->step();
    TROUPE_TRY(row);
    if (*row)
      out.emplace_back(stream, s->int64(0));
    s->reset();
  }
  return out;
}

}  // namespace troupe::runtime
