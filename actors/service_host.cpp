#include "actors/service_host.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace troupe {

namespace {

struct host_state {
  [[maybe_unused]] static inline const char* name = "service";
  std::shared_ptr<runtime::service_runner> runner;
  std::shared_ptr<protocol::bus_inbox> bus;
};

using host = protocol::service_host_actor::stateful_pointer<host_state>;

/// Sends the bus `out`, then news of a crash: the bus must have every
/// answer given before the crash when it hears of it, since it rebuilds the
/// service once those have committed.
void answer_bus(host self, std::vector<runtime::answer>&& out) {
  auto& st = self->state;
  if (!out.empty())
    st.bus->answers(std::move(out));
  if (st.runner->take_crash_news())
    st.bus->crashed(std::string(st.runner->name()));
}

protocol::service_host_actor::behavior_type service_host(host self, std::shared_ptr<runtime::service_runner> runner,
                                                         std::shared_ptr<protocol::bus_inbox> bus) {
  self->state.runner = std::move(runner);
  self->state.bus = std::move(bus);
  return {
      [=](protocol::deliver_atom, const protocol::delivery_batch& batch) {
        auto& st = self->state;
        std::vector<runtime::answer> out;
        out.reserve(batch.items.size());
        for (const auto& d : batch.items) {
          // A slow handler (injected) waits on a timer, not on the thread.
          const auto wait = st.runner->delay_before(*d.ev);
          if (wait.count() > 0)
            self->delayed_send(self, wait, protocol::run_atom::value, d);
          else
            out.push_back(st.runner->handle(d, std::chrono::steady_clock::now()));
        }
        answer_bus(self, std::move(out));  // the outcomes go back together
      },
      [=](protocol::run_atom, const runtime::delivery& d) {
        std::vector<runtime::answer> out;
        out.push_back(self->state.runner->handle(d, std::chrono::steady_clock::now()));
        answer_bus(self, std::move(out));
      },
      [=](protocol::restore_atom, const protocol::state_rows& rows) { self->state.runner->restore(rows.rows); },
      [=](protocol::query_atom, const std::string& what, const std::string& args) -> std::string {
        return self->state.runner->query(what, args)
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      },
      [=](protocol::stats_atom) -> std::string { return self->state.runner->stats().dump(); },
  };
}

}  // namespace

protocol::service_host_actor spawn_service_host(caf::actor_system& sys,
                                                std::shared_ptr<runtime::service_runner> runner,
                                                std::shared_ptr<protocol::bus_inbox> bus) {
  return sys.spawn(service_host, std::move(runner), std::move(bus));
}

}  // namespace troupe
