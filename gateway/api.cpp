#include "gateway/api.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include "rules/json.hpp"
#include "rules/matcher.hpp"
#include "wire/envelope.hpp"
#include "wire/limits.hpp"

namespace troupe::gateway {

using json = nlohmann::json;

namespace {

constexpr const char* validation = "ValidationException";

/// JSON text of `v`; bytes that are not UTF-8 (from a header, say) become U+FFFD rather than an exception.
std::string text(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

reply ok(const json& body) { return {200, text(body)}; }

/// A string member, or nullopt when absent; an error when it is another type.
result<std::optional<std::string>> string_member(const json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null())
    return std::optional<std::string>{};
  if (!it->is_string())
    return error{wire::errc::invalid_field, std::string("Parameter ") + name + " must be a string"};
  return std::optional<std::string>{it->get<std::string>()};
}

/// RFC 3339 (`2026-12-07T10:00:00Z`, fractions and offsets allowed) to
/// milliseconds since the epoch.
std::optional<std::int64_t> parse_rfc3339(const std::string& s) {
  int y, mo, d, h, mi, sec, n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
    return std::nullopt;
  std::size_t i = 19;
  std::int64_t ms = 0;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, ++digits)
      if (digits < 3)
        ms = ms * 10 + (s[i] - '0');
    if (digits == 0)
      return std::nullopt;
    for (; digits < 3; ++digits)
      ms *= 10;
  }
  int offset_min = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i + 6 == s.size() && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
    int oh, om;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
      return std::nullopt;
    offset_min = (s[i] == '+' ? 1 : -1) * (oh * 60 + om);
    i += 6;
  } else {
    return std::nullopt;
  }
  static const int days_in[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (i != s.size() || mo < 1 || mo > 12 || d < 1 || d > days_in[mo - 1] || (mo == 2 && d == 29 && !leap) ||
      h > 23 || mi > 59 || sec > 60)
    return std::nullopt;  // 2026-02-30 is no date, not 2026-03-02
  std::tm tm{};
  tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
  return (static_cast<std::int64_t>(timegm(&tm)) - offset_min * 60) * 1000 + ms;
}

/// An entry's Time: seconds since the epoch (the JSON protocol's
/// timestamps, a fraction allowed) or RFC 3339 text.
std::optional<std::int64_t> entry_time(const json& t) {
  if (t.is_number()) {
    const double s = t.get<double>();
    if (!std::isfinite(s) || s <= 0 || s > 1e11)
      return std::nullopt;
    return static_cast<std::int64_t>(std::llround(s * 1000));
  }
  if (t.is_string())
    return parse_rfc3339(t.get<std::string>());
  return std::nullopt;
}

/// A page of `items` after `token` (the last name of the previous page).
struct page_args {
  std::size_t limit = 100;
  std::string after;  // empty: from the start
};

result<page_args> read_page(const json& in) {
  page_args p;
  if (auto it = in.find("Limit"); it != in.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 100)
      return error{wire::errc::invalid_field, "Parameter Limit must be an integer from 1 to 100"};
    p.limit = it->get<std::size_t>();
  }
  auto token = string_member(in, "NextToken");
  if (!token)
    return token.err();
  if (*token) {
    if ((*token)->empty())
      return error{wire::errc::invalid_field, "Parameter NextToken is not valid"};
    p.after = **token;
  }
  return p;
}

/// The bytes of a put request with no entries, and the most its entries
/// array's header can grow (to an array32's five bytes from a fixarray's one).
std::size_t empty_put_bytes() {
  static const std::size_t n = [] {
    wire::control_request r;
    r.verb = "put";
    return wire::encode(r).size() + 4;
  }();
  return n;
}

/// What `e` adds to a put request on a control socket.
std::size_t request_bytes_of(const wire::put_entry& e) {
  wire::control_request r;
  r.verb = "put";
  r.entries.push_back(e);
  return wire::encode(r).size() + 4 - empty_put_bytes();
}

std::string role_list(unsigned roles) {
  std::string out;
  for (auto r : {cluster::producer, cluster::reader, cluster::operator_})
    if (roles & r)
      out += (out.empty() ? "" : ", ") + std::string(cluster::role_name(r));
  return out.empty() ? "none" : out;
}

}  // namespace

reply error_reply(const std::string& type, const std::string& message, int status) {
  return {status, text(json{{"__type", type}, {"message", message}})};
}

bool is_cluster_bus(const cluster::config& cfg, const cluster::gateway_spec& g, const std::string& name) {
  return name.empty() || name == "default" || name == cfg.cluster || name == cluster::bus_arn(g, cfg.cluster) ||
         name == cluster::bus_arn(g, "default");
}

result<prepared_put> prepare_put(const json& entries, const cluster::config& cfg, const caller& who,
                                 const std::string& idempotency) {
  if (!entries.is_array())
    return error{wire::errc::invalid_field, "Parameter Entries must be a list of entries"};
  if (entries.empty() || entries.size() > max_entries_per_call)
    return error{wire::errc::invalid_field,
                 "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have "
                 "length between 1 and " + std::to_string(max_entries_per_call) + " (it has "
                     + std::to_string(entries.size()) + ")"};
  const cluster::gateway_spec none;
  const auto& g = cfg.gateway ? *cfg.gateway : none;
  prepared_put p;
  p.slots.resize(entries.size());
  std::size_t request_bytes = empty_put_bytes();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& slot = p.slots[i];
    const auto refuse = [&slot](const char* code, std::string message) {
      slot.error_code = code;
      slot.error_message = std::move(message);
    };
    const auto& e = entries[i];
    if (!e.is_object()) {
      refuse("InvalidArgument", "An entry must be an object with Source, DetailType and Detail.");
      continue;
    }
    wire::put_entry pe;
    std::size_t size = 0;
    std::string detail_json;
    bool bad = false;
    for (auto [name, into] : {std::pair<const char*, std::string*>{"Source", &pe.source},
                              {"DetailType", &pe.detail_type}, {"Detail", &detail_json},
                              {"TraceHeader", &pe.correlation_id}}) {
      auto v = string_member(e, name);
      if (!v) {
        refuse("InvalidArgument", v.err().message + ".");
        bad = true;
        break;
      }
      if (*v)
        *into = std::move(**v);
    }
    if (bad)
      continue;
    if (pe.source.empty() || pe.detail_type.empty() || detail_json.empty()) {
      refuse("InvalidArgument", "Parameters Source, DetailType and Detail are required and must not be empty.");
      continue;
    }
    if (auto it = e.find("Resources"); it != e.end() && !it->is_null()) {
      if (!it->is_array() || !std::all_of(it->begin(), it->end(), [](const json& r) { return r.is_string(); })) {
        refuse("InvalidArgument", "Parameter Resources must be a list of strings.");
        continue;
      }
      for (const auto& r : *it) {
        pe.resources.push_back(r.get<std::string>());
        size += pe.resources.back().size();
      }
    }
    if (auto it = e.find("Time"); it != e.end() && !it->is_null()) {
      auto t = entry_time(*it);
      if (!t) {
        refuse("InvalidArgument", "Parameter Time must be seconds since the epoch or an RFC 3339 timestamp.");
        continue;
      }
      pe.time_ms = *t;
      size += wire::entry_time_bytes;
    }
    if (auto it = e.find("TraceHeader"); it != e.end() && !it->is_null() &&
        (pe.correlation_id.empty() || pe.correlation_id.size() > max_trace_header)) {
      refuse("InvalidArgument", "Parameter TraceHeader must be 1 to " + std::to_string(max_trace_header) +
                                    " characters.");
      continue;
    }
    auto bus = string_member(e, "EventBusName");
    if (bus && *bus && (*bus)->empty()) {
      refuse("InvalidArgument", "Parameter EventBusName must not be empty.");
      continue;
    }
    if (!bus || (*bus && !is_cluster_bus(cfg, g, **bus))) {
      refuse("ResourceNotFoundException",
             "Event bus " + (bus && *bus ? **bus : std::string("(not a string)")) + " does not exist (this cluster's "
             "bus is " + cfg.cluster + ").");
      continue;
    }
    size += pe.source.size() + pe.detail_type.size() + detail_json.size();
    if (size > max_entry_size) {
      refuse("InvalidArgument", "The entry is " + std::to_string(size) + " bytes; an entry is at most "
                                    + std::to_string(max_entry_size) + " (Source, DetailType, Detail, Resources and "
                                    "Time, as EventBridge counts them).");
      continue;
    }
    if (!who.sources.empty() && std::find(who.sources.begin(), who.sources.end(), pe.source) == who.sources.end()) {
      refuse("NotAuthorizedForSourceException", "Not authorized for the source " + pe.source + ".");
      continue;
    }
    std::string why;
    auto bytes = rules::json_to_msgpack(detail_json, &why);
    if (!bytes) {
      refuse("MalformedDetail", "Detail is malformed: " + why + ".");
      continue;
    }
    const auto first = static_cast<unsigned char>(bytes->front());
    if (!((first >= 0x80 && first <= 0x8f) || first == 0xde || first == 0xdf)) {
      refuse("MalformedDetail", "Detail is malformed: it must be a JSON object.");
      continue;
    }
    pe.detail = std::move(*bytes);
    if (!idempotency.empty())
      pe.idempotency_key = idempotency + "/" + std::to_string(i);
    // The node's own check of every limit (nesting, elements, the detail's
    // MessagePack size): what it would refuse fails here alone, where the
    // node could fail the whole call (a detail nested past its decoder's
    // depth).
    if (auto problem = wire::check_entry({pe.source, pe.detail_type, pe.detail, pe.correlation_id, &pe.resources})) {
      refuse(problem.code.c_str(), "The node would refuse it: " + problem.message + ".");
      continue;
    }
    // A node cuts a request past max_request_bytes: the entries that would
    // take it there fail, and the call goes on with the rest.
    const auto bytes_of_entry = request_bytes_of(pe);
    if (request_bytes + bytes_of_entry > wire::max_request_bytes) {
      refuse("InvalidArgument", "The entry would take the call's request to the node past its "
                                    + std::to_string(wire::max_request_bytes) + " bytes (the control protocol's "
                                    "limit, as MessagePack); put it in a call of its own.");
      continue;
    }
    request_bytes += bytes_of_entry;
    slot.entry = static_cast<int>(p.entries.size());
    p.entries.push_back(std::move(pe));
  }
  return p;
}

json put_response(const prepared_put& p, const std::vector<wire::put_result>& results) {
  json entries = json::array();
  int failed = 0;
  for (const auto& s : p.slots) {
    const wire::put_result* r = s.entry >= 0 && static_cast<std::size_t>(s.entry) < results.size()
                                    ? &results[static_cast<std::size_t>(s.entry)]
                                    : nullptr;
    if (r && r->ok()) {
      entries.push_back({{"EventId", r->id}});
      continue;
    }
    ++failed;
    if (r)
      entries.push_back({{"ErrorCode", r->error_code}, {"ErrorMessage", r->error_message}});
    else if (s.entry < 0)
      entries.push_back({{"ErrorCode", s.error_code}, {"ErrorMessage", s.error_message}});
    else
      entries.push_back({{"ErrorCode", "InternalFailure"}, {"ErrorMessage", "The node gave no answer for it."}});
  }
  return json{{"FailedEntryCount", failed}, {"Entries", entries}};
}

json rule_json(const cluster::config& cfg, const cluster::gateway_spec& g, const cluster::rule_spec& r,
               bool describe) {
  json out{{"Name", r.name},
           {"Arn", cluster::rule_arn(g, cfg.cluster, r.name)},
           {"EventPattern", r.pattern_json},
           {"State", "ENABLED"},
           {"EventBusName", cfg.cluster}};
  if (r.internal)
    out["ManagedBy"] = "troupe.runtime";
  if (describe)
    out["CreatedBy"] = g.account;
  return out;
}

json target_json(const cluster::config& cfg, const cluster::gateway_spec& g, const cluster::rule_spec& r) {
  json t{{"Id", r.target},
         {"Arn", cluster::service_arn(g, cfg.cluster, r.target)},
         {"RetryPolicy",
          {{"MaximumRetryAttempts", r.retry.maximum_retry_attempts},
           {"MaximumEventAgeInSeconds", r.retry.maximum_event_age.count() / 1000}}}};
  if (!r.dead_letter_queue.empty())
    t["DeadLetterConfig"] = {{"Arn", cluster::service_arn(g, cfg.cluster, r.dead_letter_queue)}};
  return t;
}

api::api(const cluster::config& cfg, put_fn put)
    : cfg_(cfg), gw_(cfg.gateway ? *cfg.gateway : cluster::gateway_spec{}), put_(std::move(put)) {}

reply api::handle(std::string_view operation, std::string_view body, const caller& who,
                  const std::string& idempotency) const {
  json in;
  try {
    in = body.empty() ? json::object() : json::parse(body);
  } catch (const json::parse_error& e) {
    return error_reply("SerializationException", std::string("The request body is not JSON: ") + e.what());
  }
  if (!in.is_object())
    return error_reply("SerializationException", "The request body must be a JSON object.");
  const auto needs = [&](cluster::role r, std::string_view op) -> std::optional<reply> {
    if (who.key_id.empty() || (who.roles & r))
      return std::nullopt;
    return error_reply("AccessDeniedException",
                       "User: " + who.key_id + " is not authorized to perform: events:" + std::string(op) +
                           " (it needs the " + cluster::role_name(r) + " role; its roles: " + role_list(who.roles) +
                           ")");
  };
  std::optional<reply> denied;
  if (operation == "PutEvents")
    return (denied = needs(cluster::producer, operation)) ? *denied : put_events(in, who, idempotency);
  if (operation == "TestEventPattern")
    return test_event_pattern(in);
  if (operation == "ListRules")
    return (denied = needs(cluster::reader, operation)) ? *denied : list_rules(in);
  if (operation == "DescribeRule")
    return (denied = needs(cluster::reader, operation)) ? *denied : describe_rule(in);
  if (operation == "ListTargetsByRule")
    return (denied = needs(cluster::reader, operation)) ? *denied : list_targets_by_rule(in);
  if (operation == "ListEventBuses")
    return (denied = needs(cluster::reader, operation)) ? *denied : list_event_buses(in);
  static const char* config_owned[] = {"PutRule", "DeleteRule", "PutTargets", "RemoveTargets", "EnableRule",
                                       "DisableRule", "CreateEventBus", "DeleteEventBus"};
  for (const char* op : config_owned)
    if (operation == op)
      return error_reply("UnknownOperationException",
                         std::string(op) + " is not supported: troupe's rules and bus come from the cluster config (" +
                             cfg_.file + "); change it there, check it with `troupe check`, and restart the nodes.");
  return error_reply("UnknownOperationException", "Unknown operation '" + std::string(operation) +
                                                       "': troupe's gateway answers PutEvents, TestEventPattern, "
                                                       "ListRules, DescribeRule, ListTargetsByRule and ListEventBuses.");
}

reply api::put_events(const json& in, const caller& who, const std::string& idempotency) const {
  auto it = in.find("Entries");
  if (it == in.end())
    return error_reply(validation, "1 validation error detected: Value null at 'entries' failed to satisfy "
                                   "constraint: Member must not be null");
  auto prepared = prepare_put(*it, cfg_, who, idempotency);
  if (!prepared)
    return error_reply(validation, prepared.err().message);
  std::vector<wire::put_result> results;
  if (!prepared->entries.empty()) {
    auto r = put_(prepared->entries);
    if (!r)
      return error_reply("InternalException", "The events were not put: " + r.err().message +
                                                  (idempotency.empty() ? "" : " (safe to retry: the entries carry "
                                                                              "idempotency keys)"),
                         500);
    results = std::move(*r);
  }
  return ok(put_response(*prepared, results));
}

reply api::test_event_pattern(const json& in) const {
  auto pattern = string_member(in, "EventPattern");
  auto event = string_member(in, "Event");
  if (!pattern || !event || !*pattern || !*event)
    return error_reply(validation, "Parameters EventPattern and Event are required strings.");
  rules::matcher m;
  auto added = m.add("test-pattern", **pattern);
  if (!added)
    return error_reply("InvalidEventPatternException", "Event pattern is not valid. Reason: " +
                                                           added.err().to_string());
  std::string why;
  auto doc = rules::detail::parse_json(**event, &why);
  if (!doc)
    return error_reply(validation, "Parameter Event is not valid: " + why + ".");
  if (!doc->is(rules::detail::json_value::kind::object))
    return error_reply(validation, "Parameter Event is not valid: it must be a JSON object.");
  using kind = rules::detail::json_value::kind;
  for (const char* field : {"id", "account", "source", "time", "region", "resources", "detail-type"}) {
    const auto* v = doc->member(field);
    if (!v)
      return error_reply(validation, std::string("Parameter Event is not valid: it has no '") + field +
                                         "' (EventBridge requires id, account, source, time, region, resources and "
                                         "detail-type).");
    // As EventBridge: resources a list of strings, the others strings, and
    // the time an RFC 3339 timestamp.
    const bool resources = std::string_view(field) == "resources";
    const bool fits = resources ? v->is(kind::array) && std::all_of(v->items.begin(), v->items.end(),
                                                                    [](const auto& r) { return r.is(kind::string); })
                                : v->is(kind::string);
    if (!fits || (std::string_view(field) == "time" && !parse_rfc3339(v->text)))
      return error_reply(validation, std::string("Parameter Event is not valid: its '") + field + "' must be " +
                                         (resources ? "a list of strings"
                                                    : std::string_view(field) == "time" ? "an RFC 3339 timestamp"
                                                                                        : "a string") + ".");
  }
  std::string bytes;
  rules::detail::write_msgpack(*doc, bytes);
  std::vector<std::size_t> hits;
  m.match_msgpack(bytes, hits);
  return ok(json{{"Result", !hits.empty()}});
}

std::optional<reply> api::other_bus(const json& in, const char* field) const {
  auto bus = string_member(in, field);
  if (!bus)
    return error_reply(validation, bus.err().message);
  if (*bus && !is_cluster_bus(cfg_, gw_, **bus))
    return error_reply("ResourceNotFoundException", "Event bus " + **bus + " does not exist.");
  return std::nullopt;
}

reply api::list_rules(const json& in) const {
  if (auto e = other_bus(in, "EventBusName"))
    return *e;
  auto page = read_page(in);
  auto prefix = string_member(in, "NamePrefix");
  if (!page || !prefix)
    return error_reply(validation, (!page ? page.err() : prefix.err()).message);
  json rules = json::array();
  std::vector<const cluster::rule_spec*> sorted;
  for (const auto& r : cfg_.rules)
    if (!*prefix || r.name.rfind(**prefix, 0) == 0)
      sorted.push_back(&r);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  // A token is the last name of a page this gateway gave: any other is not
  // valid, as EventBridge answers one it did not give.
  if (!page->after.empty() &&
      std::none_of(sorted.begin(), sorted.end(), [&](auto* r) { return r->name == page->after; }))
    return error_reply(validation, "Parameter NextToken is not valid");
  json out = json::object();
  for (const auto* r : sorted) {
    if (!page->after.empty() && r->name <= page->after)
      continue;
    if (rules.size() == page->limit) {
      out["NextToken"] = rules.back()["Name"];
      break;
    }
    rules.push_back(rule_json(cfg_, gw_, *r, false));
  }
  out["Rules"] = rules;
  return ok(out);
}

reply api::describe_rule(const json& in) const {
  if (auto e = other_bus(in, "EventBusName"))
    return *e;
  auto name = string_member(in, "Name");
  if (!name || !*name)
    return error_reply(validation, "Parameter Name is a required string.");
  for (const auto& r : cfg_.rules)
    if (r.name == **name)
      return ok(rule_json(cfg_, gw_, r, true));
  return error_reply("ResourceNotFoundException", "Rule " + **name + " does not exist on EventBus " + cfg_.cluster +
                                                      ".");
}

reply api::list_targets_by_rule(const json& in) const {
  if (auto e = other_bus(in, "EventBusName"))
    return *e;
  auto name = string_member(in, "Rule");
  auto page = read_page(in);
  if (!name || !*name || !page)
    return error_reply(validation, !page ? page.err().message : "Parameter Rule is a required string.");
  if (!page->after.empty())  // a rule has one target: no page gives a token
    return error_reply(validation, "Parameter NextToken is not valid");
  for (const auto& r : cfg_.rules)
    if (r.name == **name) {
      json targets = json::array();
      targets.push_back(target_json(cfg_, gw_, r));
      return ok(json{{"Targets", targets}});
    }
  return error_reply("ResourceNotFoundException", "Rule " + **name + " does not exist on EventBus " + cfg_.cluster +
                                                      ".");
}

reply api::list_event_buses(const json& in) const {
  auto page = read_page(in);
  auto prefix = string_member(in, "NamePrefix");
  if (!page || !prefix)
    return error_reply(validation, (!page ? page.err() : prefix.err()).message);
  if (!page->after.empty())  // one bus: no page gives a token
    return error_reply(validation, "Parameter NextToken is not valid");
  json buses = json::array();
  if (!*prefix || cfg_.cluster.rfind(**prefix, 0) == 0)
    buses.push_back({{"Name", cfg_.cluster}, {"Arn", cluster::bus_arn(gw_, cfg_.cluster)}});
  return ok(json{{"EventBuses", buses}});
}

}  // namespace troupe::gateway
