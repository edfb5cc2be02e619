// Device scoring: one documented formula (docs/SCHEDULING.md) that turns a device's measured
// throughput and its current condition — thermal headroom, battery — into the effective
// throughput placement plans with. Memory is not scored: placement treats free memory as a hard
// limit instead. A device may be excluded outright, with the reason.
#pragma once

#include <optional>
#include <string>

#include "sched/placement.hpp"

namespace crossgpu::sched {

enum class ThermalState { unknown, nominal, fair, serious, critical };  // as phones report it

struct DeviceCondition {
  std::optional<double> temperature_c;           // measured; nullopt when unavailable
  double throttle_temperature_c = 85.0;          // where the device starts to slow itself down
  ThermalState thermal_state = ThermalState::unknown;
  std::optional<double> battery_level;           // 0..1; nullopt: no battery or unknown
  bool on_battery = false;                       // true when running from a discharging battery
};

struct Score {
  double thermal_factor = 1.0;
  double power_factor = 1.0;
  double factor = 1.0;  // thermal_factor * power_factor
  bool excluded = false;
  std::string reason;   // why the factor is below 1, or why the device is excluded
};

Score score(const DeviceCondition& condition);

// The measured capacity scaled by the score: FLOP/s and bytes/s times the factor.
DeviceCapacity effective(const DeviceCapacity& measured, const Score& score);

}  // namespace crossgpu::sched
