// The thermal state of a host, as phones report it (nominal, fair, serious, critical). Linux and
// Android kernels do not report a state, but every thermal zone lists the trip points where the
// kernel starts to throttle (passive) and shuts down (hot, critical); the state is where the
// zones stand against their own trips, so no vendor-specific threshold is guessed.
#pragma once

#include <string_view>
#include <vector>

#include "telemetry/measured.hpp"
#include "telemetry/sysfs.hpp"

namespace crossgpu::telemetry {

enum class ThermalState { nominal, fair, serious, critical };

std::string_view to_string(ThermalState state) noexcept;

// Degrees below a passive trip at which a zone counts as "fair": it will throttle soon.
inline constexpr double kFairMarginC = 10.0;

// The worst state over the zones that have trip points: at or above a critical/hot trip ->
// critical; at or above the passive trip -> serious; within kFairMarginC of it -> fair; else
// nominal. Unavailable (with the reason) when no zone has a trip point.
Measured<ThermalState> thermal_state_of(const std::vector<ThermalZone>& zones);

}  // namespace crossgpu::telemetry
