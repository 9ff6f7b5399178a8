// Test helpers for the flight services: building events, delivering them,
// a model of the node's store (what a handler's recorded changes leave
// behind, and restoring a fresh service from it), temporary directories and
// settings from YAML text.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "apps/flight/services/audit.hpp"
#include "actors/service_log.hpp"
#include "apps/flight/services/register.hpp"
#include "actors/service.hpp"
#include "cluster/diagnostics.hpp"
#include "wire/envelope.hpp"

namespace troupe::flight::test {

using nlohmann::json;

/// One event as delivered, kept so that it can be delivered again.
struct sent_event {
  wire::envelope envelope;
  json detail;
};

/// An event with a fresh id unless one is given.
inline sent_event make_event(const std::string& type, const json& detail, std::string id = {},
                             std::string correlation = {}, std::int64_t time_ms = 1'700'000'000'000) {
  sent_event ev;
  ev.envelope.id = id.empty() ? wire::make_uuid() : std::move(id);
  ev.envelope.source = "test";
  ev.envelope.detail_type = type;
  ev.envelope.time_ms = time_ms;
  ev.envelope.correlation_id = std::move(correlation);
  ev.detail = detail;
  return ev;
}

/// Hands `ev` to `s`; the handler's changes land in `changes`. A handler
/// that fails yet recorded changes fails the test: the runtime would drop
/// them, so recording them means memory and store could part ways.
inline handled handle(service& s, const sent_event& ev, state_changes& changes) {
  auto h = s.handle(event_in{ev.envelope, ev.detail, changes});
  if (h.status != outcome::ok && !changes.empty())
    ADD_FAILURE() << ev.envelope.detail_type << " failed (" << h.error << ") but recorded "
                  << changes.changes().size() << " state changes";
  return h;
}

/// Delivers one event, with a fresh id unless one is given; `changes`, when
/// given, receives what the handler recorded.
inline handled deliver(service& s, const std::string& type, const json& detail, std::string id = {},
                       std::string correlation = {}, std::int64_t time_ms = 1'700'000'000'000,
                       state_changes* changes = nullptr) {
  state_changes local;
  return handle(s, make_event(type, detail, std::move(id), std::move(correlation), time_ms),
                changes ? *changes : local);
}

/// The rows a node's store holds for one service: the changes of every
/// handler that returned ok, applied in order (put replaces, erase removes).
class fake_store {
 public:
  using tables = std::map<std::string, std::map<std::string, json>>;

  void apply(const state_changes& changes) {
    for (const auto& c : changes.changes()) {
      if (c.value)
        tables_[c.table][c.key] = *c.value;
      else
        tables_[c.table].erase(c.key);
    }
  }

  /// Calls `s.restore` once per row, per table in key order, as the runtime
  /// does before start().
  void restore_into(service& s) const {
    for (const auto& [table, rows] : tables_)
      for (const auto& [key, value] : rows)
        s.restore(table, key, value);
  }

  /// Adds every row to `out` under `service_name`, for the audit.
  void add_to(stored_rows& out, const std::string& service_name) const {
    for (const auto& [table, rows] : tables_)
      for (const auto& [key, value] : rows)
        out.add(service_name, table, key, value);
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& [table, rows] : tables_)
      n += rows.size();
    return n;
  }
  const tables& rows() const { return tables_; }
  tables& rows() { return tables_; }

 private:
  tables tables_;
};

/// A service behind a model of the runtime: `deliver` commits an ok
/// handler's changes into the store and remembers the event, drops a failed
/// handler's changes; `restart` builds a fresh service (as after `kill -9`)
/// from `make` and restores it from the store.
class stored_service {
 public:
  using factory = std::function<std::unique_ptr<service>()>;

  explicit stored_service(factory make) : make_(std::move(make)), svc_(make_()) {}

  service& svc() { return *svc_; }
  const fake_store& store() const { return store_; }
  fake_store& store() { return store_; }
  /// Every event whose handler returned ok, in order.
  const std::vector<sent_event>& handled_ok() const { return handled_ok_; }
  /// What the last handler recorded (committed or not).
  const state_changes& last_changes() const { return last_; }

  handled deliver(const sent_event& ev) {
    last_ = state_changes{};
    auto h = handle(*svc_, ev, last_);
    if (h.status == outcome::ok) {
      store_.apply(last_);
      handled_ok_.push_back(ev);
    }
    return h;
  }
  handled deliver(const std::string& type, const json& detail, std::string id = {}, std::string correlation = {},
                  std::int64_t time_ms = 1'700'000'000'000) {
    return deliver(make_event(type, detail, std::move(id), std::move(correlation), time_ms));
  }

  /// Handles `ev` but loses the commit, as a node killed between the
  /// handler and its transaction: the changes are dropped, memory is not.
  handled deliver_and_crash(const sent_event& ev) {
    last_ = state_changes{};
    return handle(*svc_, ev, last_);
  }

  /// A fresh service restored from the store, then started.
  void restart() {
    svc_ = make_();
    store_.restore_into(*svc_);
    svc_->start();
  }

  /// A fresh service restored from the store, not started; `this` unchanged.
  std::unique_ptr<service> restored() const {
    auto s = make_();
    store_.restore_into(*s);
    return s;
  }

 private:
  factory make_;
  std::unique_ptr<service> svc_;
  fake_store store_;
  state_changes last_;
  std::vector<sent_event> handled_ok_;
};

/// The common half of every "restore gives the same behaviour" test: `b`
/// (fresh, restored from `a`'s store, started) answers `queries` as `a`
/// does, and every event `a` handled is, delivered to `b` again, ok with no
/// event and no change.
inline void expect_restored_like(stored_service& a, service& b, const std::vector<std::string>& queries) {
  for (const auto& q : queries)
    EXPECT_EQ(b.query(q, json::object()), a.svc().query(q, json::object())) << "query " << q;
  for (const auto& ev : a.handled_ok()) {
    state_changes changes;
    const auto h = handle(b, ev, changes);
    EXPECT_EQ(h.status, outcome::ok) << ev.envelope.detail_type << " " << ev.detail.dump() << ": " << h.error;
    EXPECT_TRUE(h.emitted.empty()) << "redelivered " << ev.envelope.detail_type << " " << ev.detail.dump()
                                   << " emitted " << h.emitted.size() << " events";
    EXPECT_TRUE(changes.empty()) << "redelivered " << ev.envelope.detail_type << " " << ev.detail.dump()
                                 << " recorded " << changes.changes().size() << " changes";
  }
  for (const auto& q : queries)
    EXPECT_EQ(b.query(q, json::object()), a.svc().query(q, json::object())) << "query " << q << " after redelivery";
}

/// Delivers `ev` to both services and expects the same result, the same
/// events and the same recorded changes.
inline void expect_same_effect(service& a, service& b, const sent_event& ev) {
  state_changes ca, cb;
  const auto ha = handle(a, ev, ca);
  const auto hb = handle(b, ev, cb);
  const auto what = ev.envelope.detail_type + " " + ev.detail.dump();
  EXPECT_EQ(ha.status, hb.status) << what;
  EXPECT_EQ(ha.error, hb.error) << what;
  ASSERT_EQ(ha.emitted.size(), hb.emitted.size()) << what;
  for (std::size_t i = 0; i < ha.emitted.size(); ++i) {
    EXPECT_EQ(ha.emitted[i].detail_type, hb.emitted[i].detail_type) << what;
    EXPECT_EQ(ha.emitted[i].detail, hb.emitted[i].detail) << what;
    EXPECT_EQ(ha.emitted[i].correlation_id, hb.emitted[i].correlation_id) << what;
  }
  ASSERT_EQ(ca.changes().size(), cb.changes().size()) << what;
  for (std::size_t i = 0; i < ca.changes().size(); ++i) {
    EXPECT_EQ(ca.changes()[i].table, cb.changes()[i].table) << what;
    EXPECT_EQ(ca.changes()[i].key, cb.changes()[i].key) << what;
    EXPECT_EQ(ca.changes()[i].value, cb.changes()[i].value) << what;
  }
}

/// A copy of the only emitted event (safe to bind to a temporary's result);
/// fails the test (by throwing) when there is not exactly one.
inline event_out only_event(const handled& h) {
  if (h.emitted.size() != 1)
    throw std::runtime_error("expected exactly one event, got " + std::to_string(h.emitted.size()) +
                             (h.error.empty() ? "" : " (error: " + h.error + ")"));
  return h.emitted.front();
}

/// Builds a registered service from YAML settings text ("" for none).
inline std::unique_ptr<service> build(const std::string& name, const std::string& settings_yaml,
                                      cluster::diagnostics& diag, const service_context& ctx = {}) {
  service_registry registry;
  register_services(registry);
  const auto* factory = registry.find(name);
  if (!factory)
    throw std::runtime_error("no service " + name);
  const YAML::Node settings =
      settings_yaml.empty() ? YAML::Node(YAML::NodeType::Null) : YAML::Load(settings_yaml);
  return (*factory)(settings, ctx, diag);
}

inline std::unique_ptr<service> build(const std::string& name, const std::string& settings_yaml) {
  cluster::diagnostics diag("test.yaml");
  auto s = build(name, settings_yaml, diag);
  if (!s)
    throw std::runtime_error("bad settings for " + name + ":\n" + diag.to_string());
  return s;
}

/// A fresh directory, removed with everything in it at scope exit.
class temp_dir {
 public:
  temp_dir() {
    auto pattern = (std::filesystem::temp_directory_path() / "troupe-flight-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Files directly inside `dir`, sorted.
inline std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Prints a table case by its name when a parameterized test fails (found
/// by ADL through `using test::operator<<;` in each test file).
template <class Case>
auto operator<<(std::ostream& os, const Case& c) -> decltype(c.name, os) {
  return os << c.name;
}

/// Silences the services' log lines for the whole test program.
struct quiet_logs {
  quiet_logs() { set_log_sink([](const std::string&) {}); }
};

} // namespace troupe::flight::test
