#include "telemetry/thermal.hpp"

#include <algorithm>

namespace crossgpu::telemetry {
namespace {

// nullopt when the zone has no usable trip point.
std::optional<ThermalState> zone_state(const ThermalZone& zone) {
  const double t = zone.temperature_c;
  if (zone.critical_trip_c && t >= *zone.critical_trip_c) return ThermalState::critical;
  if (zone.passive_trip_c) {
    if (t >= *zone.passive_trip_c) return ThermalState::serious;
    if (t >= *zone.passive_trip_c - kFairMarginC) return ThermalState::fair;
    return ThermalState::nominal;
  }
  if (zone.critical_trip_c) {
    // Only a shutdown trip: no throttling point to be near, so nominal until that trip's margin.
    return t >= *zone.critical_trip_c - kFairMarginC ? ThermalState::serious : ThermalState::nominal;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(ThermalState state) noexcept {
  switch (state) {
    case ThermalState::nominal: return "nominal";
    case ThermalState::fair: return "fair";
    case ThermalState::serious: return "serious";
    case ThermalState::critical: return "critical";
  }
  return "unknown";
}

Measured<ThermalState> thermal_state_of(const std::vector<ThermalZone>& zones) {
  std::optional<ThermalState> worst;
  std::string worst_zone;
  for (const ThermalZone& zone : zones) {
    const auto state = zone_state(zone);
    if (state && (!worst || *state > *worst)) {
      worst = state;
      worst_zone = zone.type;
    }
  }
  if (!worst) return Measured<ThermalState>::unavailable("no thermal zone has trip points");
  return Measured<ThermalState>::of(*worst, "trip points of thermal zone " + worst_zone);
}

}  // namespace crossgpu::telemetry
