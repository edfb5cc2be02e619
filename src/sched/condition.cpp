#include "sched/condition.hpp"

namespace crossgpu::sched {

DeviceCondition condition_of(const telemetry::DeviceMetrics& device, const telemetry::HostMetrics& host) {
  DeviceCondition c;
  c.temperature_c = device.temperature_c.value;
  c.battery_level = host.battery_level.value;
  // Discharging: a battery is present, it is not charging, and no mains supply is online.
  const bool powered = host.charging.value.value_or(false) || host.on_mains.value.value_or(false);
  c.on_battery = host.battery_level.available() && !powered;
  return c;
}

}  // namespace crossgpu::sched
