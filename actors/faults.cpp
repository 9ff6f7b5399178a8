#include "actors/faults.hpp"

#include "actors/event_view.hpp"

#include <stdexcept>

namespace troupe {

faulty_service::faulty_service(std::unique_ptr<service> inner, cluster::fault_spec spec, std::uint64_t seed)
    : inner_(std::move(inner)), spec_(std::move(spec)), rng_(seed) {
  if (!spec_.poison_json.empty()) {
    poison_ = std::make_unique<rules::matcher>();
    // The config validated the pattern; a failure here is a bug.
    if (!poison_->add("poison", spec_.poison_json))
      throw std::logic_error("faults: the poison pattern does not compile");
    poison_->compile();
  }
}

void faulty_service::start() {
  if (started_ == std::chrono::steady_clock::time_point{})
    started_ = std::chrono::steady_clock::now();
  inner_->start();
}

void faulty_service::restore(const std::string& table, const std::string& key, const nlohmann::json& value) {
  inner_->restore(table, key, value);
}

handled faulty_service::handle(const event_in& ev) {
  const auto since = std::chrono::steady_clock::now() - started_;
  if (spec_.outage_for.count() > 0 && since >= spec_.outage_after && since < spec_.outage_after + spec_.outage_for) {
    ++outage_;
    return handled::transient("injected fault: outage");
  }
  if (poison_) {
    std::vector<std::size_t> hits;
    poison_->match(view_of(ev.envelope), hits);
    if (!hits.empty()) {
      ++poisoned_;
      return handled::permanent("injected fault: poison event");
    }
  }
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  if (spec_.crash > 0 && draw(rng_) < spec_.crash) {
    ++crashes_;
    throw std::runtime_error("injected fault: crash");
  }
  if (spec_.transient > 0 && draw(rng_) < spec_.transient) {
    ++transient_;
    return handled::transient("injected fault: transient");
  }
  return inner_->handle(ev);
}

std::chrono::milliseconds faulty_service::delay_before(const wire::envelope& ev) {
  if (spec_.delay.count() == 0)
    return inner_->delay_before(ev);
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  if (spec_.delay_probability < 1 && draw(rng_) >= spec_.delay_probability)
    return inner_->delay_before(ev);
  ++delayed_;
  return spec_.delay + inner_->delay_before(ev);
}

nlohmann::json faulty_service::query(const std::string& what, const nlohmann::json& args) const {
  if (what == "faults")
    return injected();
  return inner_->query(what, args);
}

nlohmann::json faulty_service::injected() const {
  return {{"transient", transient_}, {"crash", crashes_}, {"poison", poisoned_}, {"outage", outage_}, {"delayed", delayed_}};
}

} // namespace troupe
