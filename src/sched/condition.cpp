#include "sched/condition.hpp"

namespace crossgpu::sched {
namespace {

ThermalState from_telemetry(const telemetry::Measured<telemetry::ThermalState>& state) {
  if (!state.value) return ThermalState::unknown;
  switch (*state.value) {
    case telemetry::ThermalState::nominal: return ThermalState::nominal;
    case telemetry::ThermalState::fair: return ThermalState::fair;
    case telemetry::ThermalState::serious: return ThermalState::serious;
    case telemetry::ThermalState::critical: return ThermalState::critical;
  }
  return ThermalState::unknown;
}

}  // namespace

DeviceCondition condition_of(const telemetry::DeviceMetrics& device, const telemetry::HostMetrics& host) {
  DeviceCondition c;
  c.temperature_c = device.temperature_c.value;
  c.thermal_state = from_telemetry(host.thermal_state);
  c.battery_level = host.battery_level.value;
  // Discharging: a battery is present, it is not charging, and no mains supply is online.
  const bool powered = host.charging.value.value_or(false) || host.on_mains.value.value_or(false);
  c.on_battery = host.battery_level.available() && !powered;
  return c;
}

}  // namespace crossgpu::sched
