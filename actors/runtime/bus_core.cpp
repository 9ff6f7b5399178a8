#include "actors/runtime/bus_core.hpp"

#include <sys/resource.h>

#include <algorithm>

#include "actors/event_view.hpp"
#include "actors/runtime/dead_letters.hpp"
#include "actors/runtime/retry_schedule.hpp"
#include "actors/runtime/trace_journal.hpp"
#include "wire/control.hpp"
#include "wire/endpoint.hpp"
#include "wire/stream.hpp"

namespace troupe::runtime {

std::int64_t bus_port::now_ms() { return wire::now_ms(); }

void bus_port::inspect_store(std::function<result<nlohmann::json>(store::database&)>,
                             std::function<void(bus_core&, result<nlohmann::json>)> then) {
  (void)then;
  throw std::logic_error("this bus port cannot read its store");
}
std::chrono::steady_clock::time_point bus_port::steady_now() { return std::chrono::steady_clock::now(); }

namespace {

long peak_rss_kib() {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_maxrss : -1;  // Linux: kilobytes
}

/// The longest maximum event age of any rule: how long idempotency keys
/// are kept, so a client retrying within it never makes an event twice.
std::int64_t longest_event_age(const cluster::config& cfg) {
  std::int64_t ttl = 0;
  for (const auto& r : cfg.rules)
    ttl = std::max<std::int64_t>(ttl, r.retry.maximum_event_age.count());
  return ttl ? ttl : cluster::retry_policy{}.maximum_event_age.count();
}

}  // namespace

bus_core::bus_core(bus_setup setup, bus_port& port, bus_timing timing)
    : node_(std::move(setup.node)),
      cfg_(*setup.cfg),
      epoch_(setup.epoch),
      topo_(std::move(setup.topo)),
      services_(std::move(setup.services)),
      log_(std::move(setup.log)),
      access_(cfg_, node_, setup.registry),
      port_(port),
      timing_(timing),
      gate_(timing.gate),
      out_(outbound_streams::stream_policy{
          [this](const std::string& stream) { return topo_->consumers_of(stream, node_); },
          [this](const std::string& stream) { return cfg_.event_age_of(stream).count(); }}),
      resolver_(node_, [this](const std::string& rule) { return rule_of(rule); }, rng_, metrics_, counters_, *log_),
      idempotency_ttl_ms_(longest_event_age(cfg_)) {
  for (const auto& r : cfg_.rules)
    rules_[r.name] = &r;
  journal_ = cfg_.observability.trace_records > 0;
  for (const auto& r : cfg_.rules)
    if (services_.count(r.target))
      metrics_.of(r.name);  // exported from the start, at 0
  resolver_.journal(journal_);
  if (auto it = topo_->consumes.find(node_); it != topo_->consumes.end())
    consumed_ = it->second;
  consumes_everything_ = consumed_.erase("") > 0;
  auto& snap = setup.snap;
  for (const auto& [stream, head] : snap.heads) {
    auto kept = snap.outbox_min.find(stream);
    out_.restore(stream, head, kept == snap.outbox_min.end() ? 0 : kept->second);
  }
  for (const auto& [key, c] : snap.cursors)
    gate_.restore(key, c);
  for (const auto& [key, seq] : snap.acks)
    out_.restore_ack(key.first, key.second, seq);
  for (auto& row : snap.inbox) {
    auto ev = wire::decode(row.bytes);
    if (!ev) {
      log_->error("inbox row {} is unreadable ({}); skipped", row.id, ev.err().to_string());
      continue;
    }
    recovered_.push_back(
        delivery{row.id, row.target, row.rule, std::make_shared<wire::envelope>(std::move(*ev)), nullptr, row.retry});
  }
}

const cluster::rule_spec* bus_core::rule_of(const std::string& name) const {
  auto it = rules_.find(name);
  return it == rules_.end() ? nullptr : it->second;
}

bool bus_core::is_peer(const std::string& node) const {
  return node != node_ && cfg_.find_node(node) != nullptr;
}

void bus_core::start() {
  std::vector<delivery> now;
  const auto at = port_.now_ms();
  for (auto& d : recovered_) {
    if (d.retry.due_ms > at) {
      ++retries_waiting_;
      port_.retry_after(std::chrono::milliseconds(d.retry.due_ms - at), std::move(d));
    } else
      now.push_back(std::move(d));
  }
  recovered_.clear();
  dispatch(std::move(now));
  publish_heartbeat();
}

// -- routing and dispatch ------------------------------------------------------

std::vector<std::pair<std::string, std::string>> bus_core::local_targets(const wire::envelope& ev) {
  scratch_.clear();
  topo_->matcher->match(view_of(ev), scratch_);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto i : scratch_)
    if (services_.count(topo_->rule_targets[i])) {
      out.emplace_back(topo_->rule_targets[i], topo_->matcher->name(i));
      ++metrics_.of(out.back().second).matched;
    }
  ++(out.empty() ? counters_.unmatched : counters_.matched);
  return out;
}

void bus_core::dispatch(std::vector<delivery> ds) {
  if (ds.empty())
    return;
  std::map<std::string, std::vector<delivery>> by_target;
  const auto now = port_.now_ms();
  const auto steady = port_.steady_now();
  for (auto& d : ds) {
    if (!services_.count(d.target))
      continue;
    if (d.retry.first_ms == 0)
      d.retry.first_ms = now;
    d.timeout = resolver_.policy_of(d.rule).handler_timeout;
    d.deadline = steady + d.timeout;
    metrics_.attempt(d, now);
    by_target[d.target].push_back(std::move(d));
  }
  for (auto& [target, batch] : by_target) {
    counters_.deliveries += batch.size();
    in_service_[target] += batch.size();
    port_.deliver(target, std::move(batch));
  }
}

// -- the gate ------------------------------------------------------------------

void bus_core::ask_replay(const std::optional<replay_ask>& ask) {
  if (!ask)
    return;
  ++counters_.replays_asked;
  port_.send_peer(ask->key.first, wire::encode(wire::replay_request{node_, ask->key.second, ask->epoch, ask->from,
                                                                    timing_.replay_batch_size}));
}

/// The delivery a DLQ's DeadLetterRedriven event asks of this node: the
/// original event, to its rule's target, with a fresh retry budget whose
/// age counts from the redrive. Nothing when the target runs on another
/// node. When refused, the letter goes back to the DLQ (REDRIVE_REFUSED)
/// as an answer of `h`, so it is not lost.
void bus_core::take_redrive(const wire::envelope& ev, const std::shared_ptr<held_event>& h,
                            std::vector<delivery>& out) {
  auto order = read_redrive(ev);
  if (!order || !services_.count(order->target))
    return;  // not a redrive, or its target runs elsewhere (it may have moved since it failed)
  if (auto why = redrive_refusal(*order, rule_of(order->rule))) {
    ++counters_.redrives_refused;
    log_->error("[service={} rule={} corr={}] redrive of dead letter {} refused: {}", order->target, order->rule,
                ev.correlation_id, order->letter_id, *why);
    if (!order->event)
      return;  // nothing to send back that the DLQ could read
    auto a = failure_of(order->target, order->rule, std::make_shared<wire::envelope>(*order->event),
                        error_code::redrive_refused, "redrive refused: " + *why, port_.now_ms());
    a.dead_letter_queue = cluster::dlq_service;
    h->answers.push_back(std::move(a));
    return;
  }
  ++counters_.redriven;
  log_->info("[service={} rule={} corr={} event={}] redriven from the DLQ (dead letter {})", order->target,
             order->rule, ev.correlation_id, order->event->id, order->letter_id);
  delivery d{0, order->target, order->rule, std::make_shared<wire::envelope>(*order->event), h, {}};
  d.retry.age_from_ms = ev.origin == node_ ? ev.time_ms : clocks_.to_local(ev.origin, ev.time_ms);
  ++h->remaining;
  out.push_back(std::move(d));
}

void bus_core::take(const event_ptr& ev, std::vector<delivery>& out, std::set<stream_key>& released) {
  const stream_key key{ev->origin, ev->detail_type};
  auto v = gate_.accept(key, ev->epoch, ev->seq, port_.now_ms());
  switch (v.what) {
    case admission::stale: ++counters_.stale; return;
    case admission::duplicate: ++counters_.duplicates; return;
    case admission::gap:
      ++counters_.gaps;
      ask_replay(v.ask);
      return;
    case admission::deferred: ++counters_.deferred; return;
    case admission::taken: break;
  }
  const auto before = out.size();
  for (auto& [target, rule] : local_targets(*ev)) {
    ++v.hold->remaining;
    out.push_back(delivery{0, std::move(target), std::move(rule), ev, v.hold, {}});
    // Its age counts on the origin's clock: the event's time, moved onto ours.
    if (ev->origin != node_)
      out.back().retry.age_from_ms = clocks_.to_local(ev->origin, ev->time_ms);
  }
  take_redrive(*ev, v.hold, out);
  if (out.size() == before)
    released.insert(key);  // nothing to wait for: its cursor moves now
}

void bus_core::on_events(const std::string& from, const std::vector<event_ptr>& events) {
  counters_.from_wire += events.size();
  // Only `from` publishes on its PUB: an event claiming another origin
  // there is forged, and would otherwise move that origin's stream.
  std::vector<event_ptr> taken;
  taken.reserve(events.size());
  for (const auto& ev : events) {
    if (ev->origin != from)
      forged("event " + ev->id + " from " + from + " claims origin '" + ev->origin + "'");
    else if (!access_.may_originate(from, ev->detail_type))
      forged("event " + ev->id + " from " + from + " is a " + ev->detail_type + ", which " + from
             + " may not originate");
    else
      taken.push_back(ev);
  }
  take_events(taken);
}

void bus_core::forged(const std::string& what) {
  ++counters_.forged;
  if (auto held = log_limit_.admit("forged"))
    log_->warn("dropped a forged message: {}{}", what,
               *held ? " (" + std::to_string(*held) + " more since the last line)" : std::string());
}

/// Events in arrival order (a burst, or a replay batch): through the gate,
/// to their services; streams whose events have no local target move their
/// cursor at once.
void bus_core::take_events(const std::vector<event_ptr>& events) {
  std::vector<delivery> out;
  std::set<stream_key> released;
  for (const auto& ev : events)
    take(ev, out, released);
  commit_batch w;
  for (const auto& key : released)
    release(key, w);
  commit(std::move(w));
  dispatch(std::move(out));
}

/// Event `seq` of stream `key`, which this node cannot decode: in its
/// place, one dead letter (UNDECODABLE_EVENT) for each local rule that could
/// route the stream and has a DLQ, committed with the stream's cursor past
/// it; without such a rule it is counted and logged.
void bus_core::take_undecodable(const stream_key& key, std::uint64_t epoch, std::uint64_t seq, std::size_t size,
                                const std::string& why) {
  auto h = gate_.accept_in_place(key, epoch, seq);
  if (!h)
    return;  // not its turn: it waits for it
  ++counters_.undecodable;
  auto ev = undecodable_stand_in(key, epoch, seq, port_.now_ms());
  for (const auto& rule : cfg_.rules) {
    if (!services_.count(rule.target) || rule.dead_letter_queue.empty())
      continue;
    if (rule.detail_types
        && std::find(rule.detail_types->begin(), rule.detail_types->end(), key.second) == rule.detail_types->end())
      continue;
    h->answers.push_back(failure_of(rule.target, rule.name, ev, error_code::undecodable_event,
                                    "event " + std::to_string(seq) + " of stream " + key.second + " from "
                                        + key.first + " (" + std::to_string(size)
                                        + " bytes) cannot be decoded here: " + why,
                                    ev->time_ms));
  }
  log_->error("stream {}/{}: event {} ({} bytes) cannot be decoded: {}; {}", key.first, key.second, seq, size, why,
              h->answers.empty() ? std::string("no DLQ takes it, dropped")
                                 : std::to_string(h->answers.size()) + " dead letter(s) in its place");
  commit_batch w;
  release(key, w);
  commit(std::move(w));
}

void bus_core::take_replay(const std::string& origin, const wire::replay_batch& batch) {
  if (!access_.may_originate(origin, batch.stream)) {
    forged("a replay batch from " + origin + " of " + batch.stream + ", which " + origin + " may not originate");
    return;
  }
  const stream_key key{origin, batch.stream};
  if (auto skipped = gate_.replay_starts(key, batch.epoch, batch.first_kept))
    log_->warn("stream {}/{}: seq {}..{} no longer kept at the origin; resuming at {}", origin, batch.stream,
               skipped->first, skipped->second, skipped->second + 1);
  const auto before = gate_.stream(key).accepted;
  std::vector<event_ptr> events;
  for (const auto& [seq, bytes] : batch.events) {
    auto ev = wire::decode(bytes);
    if (ev && (ev->origin != origin || ev->detail_type != batch.stream || ev->seq != seq || ev->epoch != batch.epoch))
      ev = error{wire::errc::invalid_field, "its origin, stream, epoch or seq is not the batch's"};
    if (!ev) {
      // Asking again would bring the same bytes: the event becomes a dead
      // letter in its place, and the stream moves on.
      take_events(events);
      events.clear();
      take_undecodable(key, batch.epoch, seq, bytes.size(), ev.err().to_string());
      continue;
    }
    ++counters_.replayed_in;
    events.push_back(std::make_shared<wire::envelope>(std::move(*ev)));
  }
  take_events(events);
  // Ask for the rest only when this batch moved the stream: one that did
  // not (the services are saturated, say) waits for the next heartbeat
  // instead of asking again at once, round trip after round trip.
  ask_replay(gate_.replay_continues(key, before, batch.epoch, batch.head, port_.now_ms()));
}

// -- answers and commits -------------------------------------------------------

void bus_core::release(const stream_key& key, commit_batch& w) {
  const auto now = port_.now_ms();
  if (auto cur = gate_.release(key, [&](held_event& h) {
        for (auto& a : h.answers)
          resolver_.resolve(a, now, w);
      }))
    w.cursors[key] = *cur;
}

void bus_core::on_answers(std::vector<answer>& answers) {
  commit_batch w;
  std::set<stream_key> touched;
  const auto now = port_.now_ms();
  for (auto& a : answers) {
    if (auto it = in_service_.find(a.d.target); it != in_service_.end() && it->second > 0)
      --it->second;
    if (a.handler_us >= 0)
      metrics_.handled(a.d.rule, a.handler_us);
    if (a.d.hold)
      touched.insert(gate_.answered(std::move(a)));
    else
      resolver_.resolve(a, now, w);
  }
  for (const auto& key : touched)
    release(key, w);
  commit(std::move(w));
  restart_ready();
}

void bus_core::commit(commit_batch&& w) {
  if (w.empty())
    return;
  after_commit ac;
  for (const auto& [key, cur] : w.cursors)
    ac.accepted.push_back({key, cur});
  struct effects {
    std::vector<finished_delivery> done;
    std::vector<delivery> parked, rescheduled;
    std::map<stream_key, store::cursor> cursors;
    std::vector<store::trace_row> traces;
  };
  auto fx = std::make_shared<effects>(effects{std::move(w.done), std::move(w.parked), std::move(w.rescheduled),
                                              std::move(w.cursors), std::move(w.traces)});
  originate(
      std::move(w.events),
      [fx](store::txn& t) -> result<void> {
        if (auto r = write_effects(t, fx->done, fx->parked, fx->rescheduled, fx->cursors); !r)
          return r;
        for (const auto& row : fx->traces)
          if (auto r = t.trace_add(row); !r)
            return r;
        return {};
      },
      std::move(ac), [fx](after_commit& done) {
        // Retried when due, now that the inbox has them (parked ones got their row).
        for (auto* v : {&fx->parked, &fx->rescheduled})
          std::move(v->begin(), v->end(), std::back_inserter(done.retries));
      });
}

/// Gives new events their place in this node's streams and writes them, the
/// local deliveries they cause, and `extra` in one transaction; once it
/// committed, `fill` completes `ac` and the bus carries it out.
void bus_core::originate(std::vector<std::shared_ptr<wire::envelope>> events, store::node_store::job extra,
                         after_commit ac, std::function<void(after_commit&)> fill) {
  auto staged = std::make_shared<std::vector<staged_event>>();
  staged->reserve(events.size());
  for (auto& ev : events) {
    ev->origin = node_;
    ev->epoch = epoch_;
    ev->seq = out_.issue(ev->detail_type);
    staged_event sg;
    sg.stream = ev->detail_type;
    sg.seq = ev->seq;
    sg.time_ms = ev->time_ms;
    sg.keep = !out_.stream(ev->detail_type).consumers.empty();
    // Every event is checked against every limit where it is made
    // (check_entry: PutEvents, a service's answer, the runtime's own
    // letters), so its detail is not walked again here.
    if (auto r = wire::encode(*ev, sg.bytes, wire::detail_check::done); !r) {
      // This one slipped through: counted and logged, never stored half.
      ++counters_.unencodable;
      log_->error("[corr={} event={}] cannot encode {}: {}", ev->correlation_id, ev->id, ev->detail_type,
                  r.err().to_string());
      out_.unissue(ev->detail_type);
      continue;
    }
    sg.targets = local_targets(*ev);
    sg.ev = ev;
    staged->push_back(std::move(sg));
  }
  port_.write(
      [staged, extra = std::move(extra), journal = journal_](store::txn& t) -> result<void> {
        if (extra)
          if (auto r = extra(t); !r)
            return r;
        return write_staged(t, *staged, journal);
      },
      [staged, ac = std::move(ac), fill = std::move(fill)](bus_core& bus) mutable {
        for (auto& sg : *staged) {
          ac.frames.emplace_back(wire::topic_of(sg.stream), std::move(sg.bytes));
          for (std::size_t k = 0; k < sg.targets.size(); ++k)
            ac.deliveries.push_back(
                delivery{sg.inbox_ids[k], sg.targets[k].first, sg.targets[k].second, sg.ev, nullptr, {}});
        }
        if (fill)
          fill(ac);
        bus.committed(ac);
      });
}

void bus_core::committed(after_commit& ac) {
  for (const auto& m : ac.accepted)
    gate_.committed(m.key, m.at.epoch, m.at.seq);
  port_.publish(std::move(ac.frames));
  dispatch(std::move(ac.deliveries));
  const auto now = port_.now_ms();
  for (auto& d : ac.retries) {
    const auto wait = std::max<std::int64_t>(0, d.retry.due_ms - now);
    ++retries_waiting_;
    port_.retry_after(std::chrono::milliseconds(wait), std::move(d));
  }
  if (!ac.reply_to.empty())
    port_.reply(ac.reply_to, std::move(ac.reply));
  for (const auto& key : ac.idempotency_keys)
    idempotency_.durable(key);
}

void bus_core::on_crashed(const std::string& service) {
  restarting_.insert(service);
  restart_ready();
}

/// Rebuilds each crashed service whose successful answers have all gone to
/// the store: the read queues behind their commits, so it sees every one.
void bus_core::restart_ready() {
  for (auto it = restarting_.begin(); it != restarting_.end();) {
    if (gate_.holds_success_of(*it)) {
      ++it;
      continue;
    }
    auto service = *it;
    auto rows = std::make_shared<std::vector<store::state_row>>();
    port_.write(
        [service, rows](store::txn& t) -> result<void> {
          auto r = t.state_rows(service);
          if (!r)
            return r.err();
          *rows = std::move(*r);
          return {};
        },
        [service, rows](bus_core& bus) { bus.port_.restore(service, std::move(*rows)); });
    it = restarting_.erase(it);
  }
}

// -- control requests and the peer protocol ------------------------------------

void bus_core::answer_request(const std::string& identity, const std::string& verb, bool ok, std::string body) {
  wire::control_reply rep;
  rep.ok = ok;
  rep.body = std::move(body);
  port_.reply(identity, wire::encode_reply(rep, verb));
}

void bus_core::serve_replay(const std::string& identity, const wire::replay_request& req) {
  const auto* os = out_.find(req.stream);
  wire::replay_batch batch{req.stream, epoch_, os ? os->head : 0, 0, {}};
  if (!os) {
    port_.reply(identity, wire::encode(batch));
    return;
  }
  // A request for another incarnation starts over at the beginning of ours.
  const std::uint64_t from = req.epoch == epoch_ ? std::max<std::uint64_t>(req.from, 1) : 1;
  const auto max = std::min<std::uint32_t>(std::max<std::uint32_t>(req.max, 1), timing_.replay_batch_size);
  ++counters_.replays_served;
  auto rows = std::make_shared<std::vector<std::pair<std::uint64_t, std::string>>>();
  port_.write(
      [rows, stream = req.stream, from, max](store::txn& t) -> result<void> {
        auto r = t.outbox_read(stream, from, max, wire::replay_batch_bytes);
        if (!r)
          return r.err();
        *rows = std::move(*r);
        return {};
      },
      [rows, identity, batch = std::move(batch)](bus_core& bus) mutable {
        // Nothing kept from `from` on: every event up to the head is gone
        // (acked by all, or expired), so the peer may resume after it.
        batch.first_kept = rows->empty() ? batch.head + 1 : rows->front().first;
        batch.events = std::move(*rows);
        bus.port_.reply(identity, wire::encode(batch));
      });
}

/// An ack that the config does not allow: counted, logged (rate-limited)
/// and never stored.
void bus_core::refuse_ack(const std::string& why) {
  ++counters_.bad_acks;
  if (auto held = log_limit_.admit("ack"))
    log_->warn("refused an ack {}{}", why,
               *held ? " (" + std::to_string(*held) + " more refused since the last line)" : std::string());
}

void bus_core::take_ack(const principal& p, const std::string& body) {
  auto a = wire::decode_ack(body);
  if (a && !access_.is_node(p, a->node)) {
    forged("an ack from '" + p.name + "' claims to come from node '" + a->node + "'");
    return;
  }
  if (!a || !is_peer(a->node)) {
    refuse_ack(a ? "from '" + a->node + "', which is not a node of the config" : a.err().to_string());
    return;
  }
  for (const auto& x : a->acks)
    if (auto why = out_.take_ack(a->node, x, epoch_))
      refuse_ack(*why);
}

void bus_core::on_request(const std::string& identity, const std::string& user, const std::string& body) {
  const auto p = access_.who(user);
  const auto verb = wire::peer_verb(body);
  if (verb == "ack" || verb == "replay") {
    if (auto why = access_.refuse(p, verb)) {
      forged(*why);
      return;
    }
    if (verb == "ack")
      take_ack(p, body);
    else
      take_replay_request(p, identity, body);
    return;
  }
  control_request(p, identity, body);
}

void bus_core::take_replay_request(const principal& p, const std::string& identity, const std::string& body) {
  auto r = wire::decode_replay_request(body);
  if (!r)
    return;
  // The outbox holds what the asker's rules route to it and more: only a
  // node asks, and only for itself.
  if (!access_.is_node(p, r->node)) {
    forged("a replay request from '" + p.name + "' claims to come from node '" + r->node + "'");
    return;
  }
  if (access_.secure()) {
    const auto consumers = topo_->consumers_of(r->stream, node_);
    if (std::find(consumers.begin(), consumers.end(), r->node) == consumers.end()) {
      forged("a replay request from node '" + r->node + "' for stream " + r->stream + ", which no rule of it consumes");
      return;
    }
  }
  serve_replay(identity, *r);
}

void bus_core::control_request(const principal& p, const std::string& identity, const std::string& body) {
  auto req = wire::decode_request(body);
  if (!req) {
    answer_request(identity, "", false, req.err().to_string());
    return;
  }
  if (auto why = access_.refuse(p, req->verb)) {
    ++counters_.access_refused;
    if (auto held = log_limit_.admit("access"))
      log_->warn("refused a {} request: {}{}", req->verb, *why,
                 *held ? " (" + std::to_string(*held) + " more since the last line)" : std::string());
    answer_request(identity, req->verb, false, *why);
    return;
  }
  if (req->verb == "put") {
    put(p, identity, std::move(req->entries));
  } else if (req->verb == "query") {
    if (!services_.count(req->service)) {
      answer_request(identity, "query", false, "no service '" + req->service + "' on node " + node_);
      return;
    }
    if (!admit_ask(identity, "query"))
      return;
    port_.query(req->service, req->what, req->args, [identity](bus_core& bus, bool ok, std::string rows) {
      --bus.asks_in_flight_;
      bus.answer_request(identity, "query", ok, std::move(rows));
    });
  } else if (req->verb == "read") {
    read(identity, *req);
  } else if (req->verb == "trace") {
    trace(identity, *req);
  } else if (req->verb == "status") {
    if (!admit_ask(identity, "status"))
      return;
    auto status = std::make_shared<nlohmann::json>(this->status());
    port_.service_stats([identity, status](bus_core& bus, nlohmann::json services) {
      --bus.asks_in_flight_;
      (*status)["services"] = std::move(services);
      bus.answer_request(identity, "status", true, status->dump());
    });
  } else {
    // decode_request refuses unknown verbs; a verb added there and not
    // here is still answered.
    answer_request(identity, req->verb, false, "unknown request '" + req->verb + "'");
  }
}

bool bus_core::admit_ask(const std::string& identity, const std::string& verb) {
  const bool reading = verb == "read";
  auto& in_flight = reading ? reads_in_flight_ : asks_in_flight_;
  if (in_flight < (reading ? timing_.max_reads_in_flight : timing_.max_asks_in_flight)) {
    ++in_flight;
    return true;
  }
  ++counters_.asks_refused;
  const std::string waiting = reading ? "reads of its store under way" : "queries and status requests waiting on its services";
  if (log_limit_.admit("asks"))
    log_->warn("refusing {} requests: {} {}", verb, in_flight, waiting);
  answer_request(identity, verb, false,
                 "busy: node " + node_ + " already has " + std::to_string(in_flight) + " " + waiting + "; try again");
  return false;
}

/// A page of the store, read away from this thread; the reply is the
/// page's rows and counts, or why there are none.
void bus_core::read(const std::string& identity, wire::control_request& req) {
  if (!admit_ask(identity, "read"))
    return;
  page_bounds bounds;
  bounds.services = std::move(req.services);
  bounds.after = std::move(req.after);
  bounds.limit = req.limit;
  port_.read_store(std::move(bounds), [identity](bus_core& bus, result<wire::read_page> page) {
    --bus.reads_in_flight_;
    wire::control_reply rep;
    rep.ok = static_cast<bool>(page);
    if (page) {
      ++bus.counters_.pages_read;
      rep.page = std::move(*page);
    } else {
      rep.body = "node " + bus.node_ + " cannot read its store: " + page.err().message;
      if (bus.log_limit_.admit("read"))
        bus.log_->warn("{}", rep.body);
    }
    bus.port_.reply(identity, wire::encode_reply(rep, "read"));
  });
}

/// A `trace` request: the journal read away from this thread (as a `read`
/// page), then what only the bus knows added: which consumers have not
/// acked each event of this node's that it lists.
void bus_core::trace(const std::string& identity, wire::control_request& req) {
  auto args = nlohmann::json::parse(req.args, nullptr, false);
  if (args.is_discarded() || !args.is_object()) {
    answer_request(identity, "trace", false, "trace: the arguments must be a JSON object");
    return;
  }
  std::function<result<nlohmann::json>(store::database&)> fn;
  if (req.what == "saga") {
    if (!args.contains("id") || !args["id"].is_string() || args["id"].get<std::string>().empty()) {
      answer_request(identity, "trace", false, "trace saga: 'id' must be a correlation id");
      return;
    }
    const auto& l = args.contains("limit") ? args["limit"] : nlohmann::json(10000);
    const auto limit = l.is_number_integer() ? l.get<std::int64_t>() : 0;
    if (limit < 1 || limit > 100000) {
      answer_request(identity, "trace", false, "trace saga: 'limit' must be from 1 to 100000");
      return;
    }
    fn = [id = args["id"].get<std::string>(), limit](store::database& db) {
      return read_saga(db, id, static_cast<std::size_t>(limit));
    };
  } else {
    auto q = parse_sagas_query(args);
    if (!q) {
      answer_request(identity, "trace", false, q.err().message);
      return;
    }
    // Only a sagas request reads the outbox past the lowest acks.
    auto lagging = std::make_shared<std::vector<std::pair<std::string, std::uint64_t>>>(unacked_streams());
    fn = [q = std::move(*q), lagging](store::database& db) -> result<nlohmann::json> {
      auto r = read_sagas(db, q);
      TROUPE_TRY(r);
      // The sagas of the events some consumer has not acked yet.
      auto unacked = read_unacked(db, *lagging, 10000);
      TROUPE_TRY(unacked);
      (*r)["unacked_events"] = std::move(*unacked);
      return r;
    };
  }
  if (!admit_ask(identity, "read"))
    return;
  port_.inspect_store(std::move(fn), [identity](bus_core& bus, result<nlohmann::json> r) {
    --bus.reads_in_flight_;
    if (!r) {
      bus.answer_request(identity, "trace", false, "node " + bus.node_ + " cannot read its trace: " + r.err().message);
      return;
    }
    auto& body = *r;
    body["node"] = bus.node_;
    body["now_ms"] = bus.port_.now_ms();
    const auto waiting_for = [&bus](const std::string& stream, std::uint64_t seq) {
      auto list = nlohmann::json::array();
      if (const auto* os = bus.out_.find(stream))
        for (const auto& peer : os->consumers)
          if (bus.out_.acked(peer, stream) < seq)
            list.push_back(peer);
      return list;
    };
    if (body.contains("records"))
      for (auto& rec : body["records"])
        if (rec.value("kind", "") == "event" && rec.contains("seq") && rec["seq"].is_number_unsigned()
            && rec.value("epoch", std::uint64_t{0}) == bus.epoch_)
          rec["unacked_by"] = waiting_for(rec.value("type", ""), rec["seq"].get<std::uint64_t>());
    if (body.contains("unacked_events"))
      for (auto& e : body["unacked_events"])
        e["unacked_by"] = waiting_for(e.value("type", ""), e.value("seq", std::uint64_t{0}));
    bus.answer_request(identity, "trace", true, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  });
}

void bus_core::on_peer(const std::string& node, const std::string& body) {
  if (wire::peer_verb(body) != "events")
    return;
  if (auto batch = wire::decode_replay_batch(body))
    take_replay(node, *batch);
}

void bus_core::on_heartbeat(const std::string& from, const std::string& body) {
  auto hb = wire::decode_heartbeat(body);
  if (!hb)
    return;
  if (hb->origin != from) {
    forged("a heartbeat from " + from + " claims origin '" + hb->origin + "'");
    return;
  }
  if (!is_peer(hb->origin))
    return;
  clocks_.sample(hb->origin, hb->time_ms, port_.now_ms());
  // A stream the origin may not originate is never asked for: its events
  // would only be dropped again.
  for (const auto& [stream, head] : hb->heads)
    if ((consumes_everything_ || consumed_.count(stream)) && access_.may_originate(hb->origin, stream))
      ask_replay(gate_.heartbeat({hb->origin, stream}, hb->epoch, head, port_.now_ms()));
}

// -- PutEvents -----------------------------------------------------------------

/// Each entry is checked against every limit an event must meet and
/// answered with an id only if it becomes an event. Keys this incarnation
/// has not seen are looked up in the store first.
void bus_core::put(const principal& p, const std::string& identity, std::vector<wire::put_entry> entries) {
  auto call = std::make_shared<put_call>(identity, std::move(entries));
  std::vector<std::size_t> lookup;
  const auto now = port_.now_ms();
  for (std::size_t i = 0; i < call->entries.size(); ++i) {
    const auto& e = call->entries[i];
    if (auto problem = check_put_entry(e, now)) {
      ++counters_.put_refused;
      call->results[i] = {"", problem.code, problem.message};
      call->settled[i] = true;
      continue;
    }
    if (auto denied = access_.refuse_entry(p, e)) {
      ++counters_.put_refused;
      ++counters_.access_refused;
      call->results[i] = {"", denied->first, denied->second};
      call->settled[i] = true;
      continue;
    }
    // Each client's keys are its own: another's same key neither answers
    // with that client's event id nor blocks it.
    if (access_.secure() && !e.idempotency_key.empty())
      call->entries[i].idempotency_key = p.name + "/" + e.idempotency_key;
    if (e.idempotency_key.empty())
      continue;
    call->digests[i] = digest_of(e);
    if (!idempotency_.find(e.idempotency_key))
      lookup.push_back(i);  // else settled by finish_put
  }
  if (lookup.empty()) {
    finish_put(*call);
    return;
  }
  call->found.resize(call->entries.size());
  port_.write(
      [call, lookup](store::txn& t) -> result<void> {
        for (auto i : lookup) {
          auto r = t.idempotency_get(call->entries[i].idempotency_key);
          if (!r)
            return r.err();
          call->found[i] = std::move(*r);
        }
        return {};
      },
      [call](bus_core& bus) { bus.finish_put(*call); });
}

/// The entries not settled yet become events: written, with their
/// idempotency keys, in one transaction, and answered once it committed.
/// Keys seen since the lookup (a retry racing its first try) answer the
/// event they made.
void bus_core::finish_put(put_call& call) {
  std::vector<std::shared_ptr<wire::envelope>> events;
  auto keys = std::make_shared<std::vector<std::pair<std::string, store::idempotency_record>>>();
  const auto now = port_.now_ms();
  const auto repeat = [&](std::size_t i, const std::string& id, std::uint64_t digest) {
    ++(call.settle_repeat(i, id, digest) ? counters_.idempotent_repeats : counters_.put_refused);
  };
  for (std::size_t i = 0; i < call.entries.size(); ++i) {
    if (call.settled[i])
      continue;
    auto& e = call.entries[i];
    if (!e.idempotency_key.empty()) {
      if (const auto* seen = idempotency_.find(e.idempotency_key)) {
        repeat(i, seen->event_id, seen->digest);
        continue;
      }
      if (i < call.found.size() && call.found[i]) {
        repeat(i, call.found[i]->event_id, call.found[i]->digest);
        continue;
      }
    }
    ++counters_.put;
    events.push_back(make_event(std::move(e.source), std::move(e.detail_type), std::move(e.detail),
                                std::move(e.correlation_id), "", std::move(e.resources), e.time_ms));
    call.results[i] = {events.back()->id, "", ""};
    if (!e.idempotency_key.empty()) {
      idempotency_.remember(e.idempotency_key, events.back()->id, call.digests[i], now);
      keys->emplace_back(e.idempotency_key, store::idempotency_record{events.back()->id, call.digests[i]});
    }
  }
  wire::control_reply rep;
  rep.ok = true;
  rep.results = std::move(call.results);
  // PutEvents answers once the events are durable: an id means stored.
  after_commit ac;
  ac.reply_to = call.identity;
  ac.reply = wire::encode_reply(rep, "put");
  for (const auto& k : *keys)
    ac.idempotency_keys.push_back(k.first);
  store::node_store::job extra;
  if (!keys->empty())
    extra = [keys, expires = now + idempotency_ttl_ms_](store::txn& t) -> result<void> {
      for (const auto& [key, rec] : *keys)
        if (auto r = t.idempotency_put(key, rec, expires); !r)
          return r;
      return {};
    };
  originate(std::move(events), std::move(extra), std::move(ac));
}

// -- every tick: acks, prune, heartbeat, expiry -----------------------------------

void bus_core::flush_acks(bool again) {
  for (auto& [origin, acks] : gate_.acks_due(again))
    port_.send_peer(origin, wire::encode(wire::ack{node_, std::move(acks)}));
}

/// Persists the peers' acks and deletes what every consumer acked, as store
/// chores of at most `prune_chunk` events each, so that pruning never
/// holds a commit up for long (deleting a tick's worth at 20,000 events/s
/// in one go took up to 5 ms, measured).
void bus_core::prune() {
  auto acks = out_.acks_to_persist();
  if (!acks)
    return;
  port_.chore([acks = std::move(*acks)](store::txn& t) -> result<void> {
    for (const auto& [key, seq] : acks)
      if (auto r = t.ack_set(key.first, key.second, seq); !r)
        return r;
    return {};
  });
  for (auto& range : out_.prunable(timing_.prune_chunk))
    port_.chore([range = std::move(range)](store::txn& t) -> result<void> {
      auto r = t.outbox_prune(range.stream, range.upto);
      if (!r)
        return r.err();
      return {};
    });
}

/// Finds the events of this node's streams that some consumer has not
/// acked within the stream's maximum event age.
void bus_core::expire() {
  auto cutoffs = out_.expiry_cutoffs(port_.now_ms());
  if (cutoffs.empty())
    return;
  auto expired = std::make_shared<std::vector<store::expired_event>>();
  port_.write(
      [cutoffs = std::move(cutoffs), expired, limit = timing_.expire_batch](store::txn& t) -> result<void> {
        for (const auto& c : cutoffs) {
          auto r = t.outbox_older(c.stream, c.after, c.before_ms, limit);
          if (!r)
            return r.err();
          expired->insert(expired->end(), std::make_move_iterator(r->begin()), std::make_move_iterator(r->end()));
        }
        return {};
      },
      [expired](bus_core& bus) { bus.dead_letter_expired(*expired); });
}

/// The dead letter (MAX_EVENT_AGE) of `ev`, which node `peer`, where
/// `target` runs, did not take within its maximum age; `dlq` when not the
/// rule's.
void bus_core::age_letter(const std::string& target, const std::string& rule, const wire::envelope& ev,
                          const std::string& peer, const char* what, const std::string& dlq, commit_batch& w) {
  // Never attempted (at 0): the node that runs the target never took it.
  auto a = failure_of(target, rule, std::make_shared<wire::envelope>(ev), error_code::max_event_age,
                      "node " + peer + " did not take the " + what + " within its maximum age", 0);
  a.dead_letter_queue = dlq;
  if (journal_) {
    auto rec = attempt_record(a, store::trace_row::expired);
    rec.at_ms = port_.now_ms();  // when it expired; the letter says it was never attempted
    w.traces.push_back(std::move(rec));
  }
  metrics_.failed(rule);
  auto dl = resolver_.dead_letter_for(a, exhausted_age);
  dl.node = peer;  // where the target runs, which never took it
  resolver_.send_dead_letter(dl, w);
}

/// A DeadLetterRedriven event of this node's DLQ that `peer` did not take
/// within its age goes back to the DLQ, if `peer` runs its target. True
/// when it did.
bool bus_core::redrive_expired(const wire::envelope& ev, const std::string& peer, commit_batch& w) {
  auto order = read_redrive(ev);
  if (!order || !order->event)
    return false;
  const auto* host = cfg_.node_hosting(order->target);
  if (!host || host->name != peer)
    return false;
  age_letter(order->target, order->rule, *order->event, peer, "redrive", cluster::dlq_service, w);
  return true;
}

/// Drops events that a consumer did not ack within their maximum age. Each
/// becomes a dead letter (MAX_EVENT_AGE) for every rule with a DLQ that
/// routes it to a service on a node that had not acked it; the deletion and
/// the dead letters commit together.
void bus_core::dead_letter_expired(std::vector<store::expired_event>& expired) {
  commit_batch w;
  auto gone = std::make_shared<std::vector<std::pair<std::string, std::uint64_t>>>();
  for (auto& x : expired) {
    if (!out_.expire(x.stream, x.seq))
      continue;  // already being dropped
    gone->emplace_back(x.stream, x.seq);
    ++counters_.expired;
    auto ev = wire::decode(x.bytes);
    if (!ev)
      continue;
    std::vector<std::size_t> hits;
    topo_->matcher->match(view_of(*ev), hits);
    bool lettered = false;
    for (const auto& peer : out_.stream(x.stream).consumers) {
      if (out_.acked(peer, x.stream) >= x.seq)
        continue;
      // A redrive its target's node never took: the letter comes back.
      if (redrive_expired(*ev, peer, w)) {
        lettered = true;
        continue;
      }
      for (auto i : hits) {
        const auto& target = topo_->rule_targets[i];
        const auto* host = cfg_.node_hosting(target);
        if (!host || host->name != peer)
          continue;
        age_letter(target, topo_->matcher->name(i), *ev, peer, "event", "", w);
        lettered = true;
      }
    }
    if (!lettered)
      log_->error("[corr={} event={}] event {}#{} was not acked by every consumer within the maximum event age; "
                  "dropped", ev->correlation_id, ev->id, x.stream, x.seq);
  }
  // A full batch may have more behind it: look again at the next tick.
  expire_soon_ = expired.size() >= timing_.expire_batch;
  if (gone->empty())
    return;
  originate(std::move(w.events),
            [gone](store::txn& t) -> result<void> {
              for (const auto& [stream, seq] : *gone)
                if (auto r = t.outbox_delete(stream, seq); !r)
                  return r;
              return {};
            },
            after_commit{});
}

/// Idempotency keys: the store forgets those past the longest maximum event
/// age; memory keeps a key only until its row is surely committed.
void bus_core::expire_idempotency() {
  const auto now = port_.now_ms();
  idempotency_.forget_old(now);
  port_.chore([now](store::txn& t) -> result<void> {
    auto r = t.idempotency_expire(now, 10000);
    if (!r)
      return r.err();
    return {};
  });
}

void bus_core::publish_heartbeat() {
  port_.publish({{wire::heartbeat_topic, wire::encode(wire::heartbeat{node_, epoch_, out_.heads(), port_.now_ms()})}});
}

void bus_core::on_tick() {
  ++ticks_;
  const bool beat = ticks_ % timing_.heartbeat_every_ticks == 0;
  flush_acks(beat);
  prune();
  if (beat)
    publish_heartbeat();
  const bool expiry = ticks_ % timing_.expire_every_ticks == 0;
  if (expiry || expire_soon_) {
    expire_soon_ = false;
    expire();
  }
  if (expiry)
    expire_idempotency();
  if (journal_ && ticks_ % timing_.trace_prune_every_ticks == 0)
    prune_trace();
}

/// Forgets the trace records past the retention or the count, a chunk at a
/// time, as a chore.
void bus_core::prune_trace() {
  const auto& o = cfg_.observability;
  port_.chore([before = port_.now_ms() - o.trace_retention.count(), keep = o.trace_records,
               chunk = timing_.trace_prune_chunk](store::txn& t) -> result<void> {
    auto r = t.trace_prune(before, keep, chunk);
    if (!r)
      return r.err();
    return {};
  });
}

nlohmann::json bus_core::status() const {
  auto bus = to_json(counters_);
  bus["held"] = gate_.held();
  bus["unacked_inbound"] = gate_.unacked();
  auto io = port_.io_stats();
  return nlohmann::json{
      {"node", node_},
      {"epoch", epoch_},
      {"wire", io.value("wire", nlohmann::json::object())},
      {"bus", std::move(bus)},
      {"store", io.value("store", nlohmann::json::object())},
      {"process", {{"peak_rss_kib", peak_rss_kib()}}},
      {"metrics", metrics_.to_json([this](const std::string& rule) {
         const auto* r = rule_of(rule);
         return r ? r->target : std::string();
       })},
      {"services", nlohmann::json::object()}};
}

}  // namespace troupe::runtime

namespace troupe::runtime {

std::vector<std::pair<std::string, std::uint64_t>> bus_core::unacked_streams() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (const auto& [stream, _] : out_.heads()) {
    const auto* os = out_.find(stream);
    if (!os || os->consumers.empty())
      continue;
    std::uint64_t low = os->head;
    for (const auto& peer : os->consumers)
      low = std::min(low, out_.acked(peer, stream));
    if (low < os->head)
      out.emplace_back(stream, low);
  }
  return out;
}

void bus_core::prometheus(observe::exposition& x) const {
  const std::string& n = node_;
  x.family("troupe_node_info", "gauge", "The node, its incarnation (epoch) and its services; always 1.");
  std::string services;
  for (const auto& s : services_)
    services += (services.empty() ? "" : ",") + s;
  const auto epoch = std::to_string(epoch_);
  x.sample("troupe_node_info", {{"node", n}, {"epoch", epoch}, {"services", services}}, 1);
  write_prometheus(x, n, counters_, metrics_, [this](const std::string& rule) {
    const auto* r = rule_of(rule);
    return r ? r->target : std::string();
  });
  x.family("troupe_deliveries_in_service", "gauge",
           "Deliveries handed to a local service that has not answered them yet: its queue.");
  for (const auto& s : services_) {
    auto it = in_service_.find(s);
    x.sample("troupe_deliveries_in_service", {{"node", n}, {"target", s}},
             static_cast<double>(it == in_service_.end() ? 0 : it->second));
  }
  x.family("troupe_deliveries_waiting_retry", "gauge", "Deliveries waiting for their retry's time.");
  x.sample("troupe_deliveries_waiting_retry", {{"node", n}}, static_cast<double>(retries_waiting_));
  x.family("troupe_held_events", "gauge",
           "Events from peers held at their stream's gate until their answers commit.");
  x.sample("troupe_held_events", {{"node", n}}, static_cast<double>(gate_.held()));
  x.family("troupe_unacked_inbound_events", "gauge", "Events taken from peers and not acked to them yet.");
  x.sample("troupe_unacked_inbound_events", {{"node", n}}, static_cast<double>(gate_.unacked()));
  const auto heads = out_.heads();
  x.family("troupe_stream_head", "gauge", "The last sequence number given out in each of this node's streams.");
  for (const auto& [stream, head] : heads)
    x.sample("troupe_stream_head", {{"node", n}, {"stream", stream}}, static_cast<double>(head));
  x.family("troupe_unacked_events", "gauge",
           "Events of this node's stream that the consumer has not acked: kept in the outbox for it.");
  for (const auto& [stream, head] : heads) {
    const auto* os = out_.find(stream);
    if (!os)
      continue;
    for (const auto& peer : os->consumers) {
      const auto acked = out_.acked(peer, stream);
      x.sample("troupe_unacked_events", {{"node", n}, {"stream", stream}, {"consumer", peer}},
               static_cast<double>(head > acked ? head - acked : 0));
    }
  }
  x.family("troupe_asks_in_flight", "gauge", "Queries, status requests and reads waiting on the services or the store.");
  x.sample("troupe_asks_in_flight", {{"node", n}}, static_cast<double>(asks_in_flight_ + reads_in_flight_));
  // The wire's and the store's counters.
  auto io = port_.io_stats();
  for (const auto& part : {"wire", "store"}) {
    if (!io.contains(part) || !io[part].is_object())
      continue;
    for (const auto& [key, value] : io[part].items()) {
      if (!value.is_number())
        continue;
      const bool gauge = key == "peers_connected";
      const auto name = std::string("troupe_") + part + "_" + key + (gauge ? "" : "_total");
      x.family(name, gauge ? "gauge" : "counter",
               std::string("The ") + part + "'s " + key + (gauge ? " now." : " counter."));
      x.sample(name, {{"node", n}}, value.get<double>());
    }
  }
}

}  // namespace troupe::runtime
