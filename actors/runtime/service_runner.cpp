#include "actors/runtime/service_runner.hpp"

#include "actors/dead_letter.hpp"
#include "actors/msgpack_json.hpp"
#include "wire/limits.hpp"

namespace troupe::runtime {

const char* to_string(service_mode m) {
  switch (m) {
    case service_mode::running: return "running";
    case service_mode::restarting: return "restarting";
    case service_mode::failed: return "failed";
  }
  return "?";
}

handled invoke(service& impl, const wire::envelope& ev, state_changes& changes) {
  nlohmann::json detail;
  try {
    detail = json_from_msgpack(ev.detail);
  } catch (const std::exception& e) {
    return handled::permanent(std::string("detail: not decodable: ") + e.what());
  }
  return impl.handle(event_in{ev, detail, changes});
}

service_runner::service_runner(std::string name, std::shared_ptr<service> impl, service_maker remake,
                               const cluster::supervision_spec& intensity, std::shared_ptr<spdlog::logger> log)
    : name_(std::move(name)), impl_(std::move(impl)), remake_(std::move(remake)),
      intensity_(intensity.max_restarts, intensity.within), log_(std::move(log)) {}

/// The service's memory is in doubt: stop handling and have the bus read
/// its state back once every earlier answer is committed; or, past the
/// restart intensity, fail it.
/// `d` is the delivery it crashed on: its lines carry its correlation id.
void service_runner::crash(const std::string& why, const delivery& d, clock::time_point now) {
  if (mode_ != service_mode::running)
    return;
  const auto& ev = *d.ev;
  if (!intensity_.admit(now)) {
    mode_ = service_mode::failed;
    log_->critical("[service={} rule={} corr={} event={}] failed: {} restarts within {} s is its limit; it handles "
                   "nothing more (its deliveries fail and go to their DLQ) until the node restarts. Last crash: {}",
                   name_, d.rule, ev.correlation_id, ev.id, intensity_.max_restarts(),
                   intensity_.within().count() / 1000.0, why);
    return;
  }
  mode_ = service_mode::restarting;
  crash_untold_ = true;
  log_->error("[service={} rule={} corr={} event={}] crashed ({}); restarting it from its stored state", name_, d.rule,
              ev.correlation_id, ev.id, why);
}

bool service_runner::take_crash_news() {
  const bool news = crash_untold_;
  crash_untold_ = false;
  return news;
}

std::chrono::milliseconds service_runner::delay_before(const wire::envelope& ev) {
  return mode_ == service_mode::running ? impl_->delay_before(ev) : std::chrono::milliseconds(0);
}

std::optional<std::string> encode_events(answer& a) {
  a.details.clear();
  a.details.reserve(a.events.size());
  const std::string source = "troupe." + a.d.target;
  for (const auto& e : a.events) {
    if (!e.detail.is_object())
      return e.detail_type + ": its detail is not an object";
    std::string detail;
    nlohmann::json::to_msgpack(e.detail, detail);
    const auto& corr = e.correlation_id.empty() ? a.d.ev->correlation_id : e.correlation_id;
    static const std::vector<std::string> no_resources;
    if (auto p = wire::check_entry({source, e.detail_type, detail, corr, &no_resources}))
      return e.detail_type + ": " + p.message;
    a.details.push_back(std::move(detail));
  }
  return std::nullopt;
}

answer service_runner::handle(const delivery& d, clock::time_point started) {
  ++counters_.delivered;
  const auto& ev = *d.ev;
  answer a;
  a.d = d;
  const auto fail = [&](const char* code, std::string why) {
    a.status = outcome::transient;
    a.error_code = code;
    a.error = std::move(why);
  };
  if (mode_ == service_mode::restarting) {
    fail(error_code::crash, "not run: the service is restarting after a crash");
    a.not_run = true;
  } else if (mode_ == service_mode::failed) {
    fail(error_code::service_failed, "not run: the service failed (past its restart intensity)");
  } else if (started > d.deadline) {
    ++counters_.timeouts;
    fail(error_code::timeout, "not started within the handler timeout");
  } else {
    state_changes changes;
    try {
      auto h = invoke(*impl_, ev, changes);
      a.status = h.status;
      a.error = std::move(h.error);
      a.events = std::move(h.emitted);
      a.error_code = h.status == outcome::permanent ? error_code::permanent_error : error_code::handler_error;
      const auto ended = clock::now();
      a.handler_us = std::chrono::duration_cast<std::chrono::microseconds>(ended - started).count();
      if (ended - started > d.timeout) {
        // It ran longer than it may: its answer does not count, and what
        // it did to the service's memory will not commit. Rebuild it.
        ++counters_.timeouts;
        a.events.clear();
        fail(error_code::timeout, "the handler overran its timeout; its result was dropped");
        crash("handler overran its timeout", d, ended);
      } else if (a.status == outcome::ok) {
        if (auto problem = encode_events(a)) {
          // Nothing of it may commit, yet the handler changed the service's
          // memory as if it would: rebuild the service from its rows.
          a.status = outcome::permanent;
          a.error_code = invalid_event_code;
          a.error = "the handler emitted an event that cannot be sent: " + *problem;
          a.events.clear();
          a.details.clear();
          crash("its answer emitted an event that cannot be sent", d, clock::now());
        } else {
          a.changes = changes.take();
        }
      }
    } catch (const std::exception& e) {
      ++counters_.crashed;
      fail(error_code::crash, std::string("handler threw: ") + e.what());
      crash(e.what(), d, clock::now());
    } catch (...) {
      ++counters_.crashed;
      fail(error_code::crash, "handler threw something that is not a std::exception");
      crash("a non-standard exception", d, clock::now());
    }
    if (a.handler_us < 0)  // it threw
      a.handler_us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started).count();
  }
  a.at_ms = wire::now_ms();
  switch (a.status) {
    case outcome::ok:
      ++counters_.ok;
      a.error_code.clear();
      break;
    case outcome::transient:
      ++counters_.transient;
      log_->warn("[service={} rule={} corr={} event={} attempt={}] {}: {}", name_, d.rule, ev.correlation_id, ev.id,
                 d.retry.attempt, a.error_code, a.error);
      break;
    case outcome::permanent:
      ++counters_.permanent;
      log_->warn("[service={} rule={} corr={} event={}] permanent failure: {}", name_, d.rule, ev.correlation_id,
                 ev.id, a.error);
      break;
  }
  return a;
}

void service_runner::restore(const std::vector<store::state_row>& rows) {
  try {
    auto fresh = remake_(impl_);
    for (const auto& r : rows)
      fresh->restore(r.table, r.key, nlohmann::json::parse(r.json, nullptr, false));
    fresh->start();
    impl_ = std::move(fresh);
    mode_ = service_mode::running;
    ++counters_.restarts;
    log_->warn("[service={}] restarted from {} stored rows", name_, rows.size());
  } catch (const std::exception& e) {
    mode_ = service_mode::failed;
    log_->critical("[service={}] failed: cannot rebuild it from its stored state: {}", name_, e.what());
  }
}

nlohmann::json service_runner::query(const std::string& what, const std::string& args) const {
  // No args is no filter; args that are not JSON are an error, never
  // taken for no filter (which would answer with every row).
  nlohmann::json a = args.empty() ? nlohmann::json::object() : nlohmann::json::parse(args, nullptr, false);
  if (a.is_discarded())
    return nlohmann::json{{"error", "the query's args are not JSON"}};
  try {
    return impl_->query(what, a);
  } catch (const std::exception& e) {
    return nlohmann::json{{"error", e.what()}};
  }
}

nlohmann::json service_runner::stats() const {
  const auto& c = counters_;
  return {{"state", to_string(mode_)}, {"delivered", c.delivered}, {"ok", c.ok},
          {"transient", c.transient},  {"permanent", c.permanent}, {"crashed", c.crashed},
          {"timeouts", c.timeouts},    {"restarts", c.restarts}};
}

}  // namespace troupe::runtime
