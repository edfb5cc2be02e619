#include "sched/scoring.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace crossgpu::sched {
namespace {

// Full speed with 15 °C of headroom or more, down linearly to 0.6 at the throttle point, 0.5
// beyond it (a throttling device runs at roughly half clock).
double temperature_factor(double temperature, double throttle) {
  const double margin = throttle - temperature;
  if (margin >= 15.0) return 1.0;
  if (margin <= 0.0) return 0.5;
  return 0.6 + 0.4 * margin / 15.0;
}

double state_factor(ThermalState state) {
  switch (state) {
    case ThermalState::fair: return 0.85;
    case ThermalState::serious: return 0.6;
    case ThermalState::unknown:
    case ThermalState::nominal:
    case ThermalState::critical: return 1.0;  // critical excludes the device instead
  }
  return 1.0;
}

void add_reason(Score& s, const std::string& reason) {
  s.reason += (s.reason.empty() ? "" : "; ") + reason;
}

void score_thermal(const DeviceCondition& c, Score& s) {
  if (c.thermal_state == ThermalState::critical) {
    s.excluded = true;
    add_reason(s, "thermal state critical");
    return;
  }
  s.thermal_factor = state_factor(c.thermal_state);
  if (c.temperature_c) {
    s.thermal_factor = std::min(s.thermal_factor, temperature_factor(*c.temperature_c, c.throttle_temperature_c));
  }
  if (s.thermal_factor < 1.0) {
    add_reason(s, fmt::format("thermal headroom low (x{:.2f})", s.thermal_factor));
  }
}

// Mains power: full weight. On battery a device is used gently, and not at all when low, so that
// lending a phone to the cluster never empties it.
void score_power(const DeviceCondition& c, Score& s) {
  if (!c.on_battery) return;
  if (!c.battery_level) {
    s.power_factor = 0.6;
  } else if (*c.battery_level < 0.2) {
    s.excluded = true;
    add_reason(s, fmt::format("on battery at {:.0f}%", *c.battery_level * 100));
    return;
  } else {
    s.power_factor = *c.battery_level >= 0.5 ? 0.8 : 0.5;
  }
  add_reason(s, fmt::format("on battery (x{:.2f})", s.power_factor));
}

}  // namespace

Score score(const DeviceCondition& condition) {
  Score s;
  score_thermal(condition, s);
  score_power(condition, s);
  s.factor = s.excluded ? 0.0 : s.thermal_factor * s.power_factor;
  return s;
}

DeviceCapacity effective(const DeviceCapacity& measured, const Score& score) {
  DeviceCapacity out = measured;
  out.flops_per_second *= score.factor;
  out.bytes_per_second *= score.factor;
  return out;
}

}  // namespace crossgpu::sched
