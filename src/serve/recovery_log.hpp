// What `crossgpu serve` went through when devices were lost: its state (serving, recovering,
// failed), each recovery (what was lost, the new plan, the outage the clients saw) and the
// failure that ended serving, for /health, /metrics and the dashboard's timeline
// (GET /api/recoveries, docs/PROTOCOL.md). Written by the generation worker, read by the HTTP
// threads: every member is behind one mutex.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/recoverable_pipeline.hpp"

namespace crossgpu::serve {

enum class ServiceState { serving, recovering, failed };
const char* service_state_name(ServiceState state);

struct RecoveryTotals {
  ServiceState state = ServiceState::serving;
  std::uint64_t recoveries = 0;        // recoveries that let generation go on
  std::uint64_t failed_recoveries = 0; // recoveries that could not (the survivors too small, ...)
  std::uint64_t replans = 0;           // moves away from a slowed device (no device lost)
  double last_outage_seconds = 0;      // of the last recovery; 0 before any
  std::string failure;                 // why serving stopped (state failed)
};

class RecoveryLog {
 public:
  // The timeline keeps this many entries (the oldest dropped first): a flapping cluster must not
  // grow the server's memory without bound.
  static constexpr std::size_t kKeep = 64;

  void begin(const std::string& failure, std::uint32_t sequences);  // state recovering
  // State serving again, on `event.plan`, with `sequences` requests carried over.
  void recovered(const runtime::RecoveryEvent& event, std::uint32_t sequences);
  // State serving again after a slowdown re-plan (event.slowdown()): on `event.plan`, with
  // `sequences` requests carried over. Counted apart from recoveries; the outage is not a loss's.
  void replanned(const runtime::RecoveryEvent& event, std::uint32_t sequences);
  // Serving again on the same stages: no device was lost after all (or the rebuild failed for
  // another reason); the `sequences` in flight failed with `error`.
  void not_recovered(const std::string& error, std::uint32_t sequences);
  void failed(const std::string& error, std::uint32_t sequences);  // state failed

  RecoveryTotals totals() const;
  // The plan serving runs on after the last recovery (null before any).
  nlohmann::json current_plan() const;
  // {"state", "failure", "recoveries", "failed_recoveries", "replans", "last_outage_seconds",
  //  "events": [...]}
  nlohmann::json json() const;

 private:
  void add(nlohmann::json entry);

  mutable std::mutex mutex_;
  RecoveryTotals totals_;
  nlohmann::json plan_;
  std::vector<nlohmann::json> events_;
};

}  // namespace crossgpu::serve
