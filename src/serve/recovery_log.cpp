#include "serve/recovery_log.hpp"

#include <chrono>

namespace crossgpu::serve {
namespace {

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const char* service_state_name(ServiceState state) {
  switch (state) {
    case ServiceState::serving: return "serving";
    case ServiceState::recovering: return "recovering";
    case ServiceState::failed: return "failed";
  }
  return "serving";
}

void RecoveryLog::add(nlohmann::json entry) {
  entry["at_unix_ms"] = unix_ms();
  if (events_.size() == kKeep) events_.erase(events_.begin());
  events_.push_back(std::move(entry));
}

void RecoveryLog::begin(const std::string& failure, std::uint32_t sequences) {
  std::lock_guard lock(mutex_);
  totals_.state = ServiceState::recovering;
  add({{"event", "recovering"}, {"failure", failure}, {"sequences", sequences}});
}

void RecoveryLog::recovered(const runtime::RecoveryEvent& event, std::uint32_t sequences) {
  std::lock_guard lock(mutex_);
  totals_.state = ServiceState::serving;
  ++totals_.recoveries;
  totals_.last_outage_seconds = event.outage_seconds();
  nlohmann::json entry = runtime::recovery_json(event);
  entry["sequences"] = sequences;
  plan_ = entry["plan"];
  add(std::move(entry));
}

void RecoveryLog::replanned(const runtime::RecoveryEvent& event, std::uint32_t sequences) {
  std::lock_guard lock(mutex_);
  totals_.state = ServiceState::serving;
  ++totals_.replans;
  nlohmann::json entry = runtime::recovery_json(event);
  entry["sequences"] = sequences;
  plan_ = entry["plan"];
  add(std::move(entry));
}

void RecoveryLog::not_recovered(const std::string& error, std::uint32_t sequences) {
  std::lock_guard lock(mutex_);
  totals_.state = ServiceState::serving;
  add({{"event", "not_recovered"}, {"failure", error}, {"sequences", sequences}});
}

void RecoveryLog::failed(const std::string& error, std::uint32_t sequences) {
  std::lock_guard lock(mutex_);
  totals_.state = ServiceState::failed;
  ++totals_.failed_recoveries;
  totals_.failure = error;
  add({{"event", "failed"}, {"failure", error}, {"sequences", sequences}});
}

RecoveryTotals RecoveryLog::totals() const {
  std::lock_guard lock(mutex_);
  return totals_;
}

nlohmann::json RecoveryLog::current_plan() const {
  std::lock_guard lock(mutex_);
  return plan_;
}

nlohmann::json RecoveryLog::json() const {
  std::lock_guard lock(mutex_);
  return {{"state", service_state_name(totals_.state)},
          {"failure", totals_.failure.empty() ? nlohmann::json() : nlohmann::json(totals_.failure)},
          {"recoveries", totals_.recoveries},
          {"failed_recoveries", totals_.failed_recoveries},
          {"replans", totals_.replans},
          {"last_outage_seconds", totals_.last_outage_seconds},
          {"events", events_}};
}

}  // namespace crossgpu::serve
