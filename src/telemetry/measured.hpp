// A telemetry value that says where it came from, or why there is none. Nothing in telemetry
// has a made-up default: a field the platform does not offer is `unavailable` with the reason.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace crossgpu::telemetry {

template <typename T>
struct Measured {
  std::optional<T> value;
  std::string source;  // "nvml", "hwmon amdgpu temp1", "vulkan memory budget"; or why unavailable

  static Measured of(T v, std::string from) { return {std::move(v), std::move(from)}; }
  static Measured unavailable(std::string why) { return {std::nullopt, std::move(why)}; }
  bool available() const noexcept { return value.has_value(); }
};

}  // namespace crossgpu::telemetry
