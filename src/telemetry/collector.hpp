// Collects the metrics of each local device and of the host from what the platform offers:
// the Vulkan memory budget, NVML when loaded, hwmon/thermal/power_supply sysfs (the same paths on
// Android). Each field is Measured: a value with its source, or unavailable with the reason.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "device/device.hpp"
#include "telemetry/measured.hpp"
#include "telemetry/nvml.hpp"
#include "telemetry/thermal.hpp"

namespace crossgpu::telemetry {

struct DeviceMetrics {
  std::string device_id;
  Measured<std::uint64_t> memory_total_bytes;
  Measured<std::uint64_t> memory_used_bytes;
  Measured<std::uint64_t> memory_free_bytes;
  Measured<std::uint64_t> memory_budget_bytes;
  Measured<double> busy_fraction;
  Measured<double> temperature_c;
  Measured<double> power_w;
  Measured<double> clock_mhz;
};

struct HostMetrics {
  Measured<double> battery_level;     // 0..1
  Measured<bool> charging;
  Measured<bool> on_mains;
  Measured<double> max_temperature_c;  // hottest thermal zone
  std::string hottest_zone;
  Measured<ThermalState> thermal_state;  // from the zones' trip points (thermal.hpp)
};

class Collector {
 public:
  // sysfs_root: "/sys" normally; tests pass fixture trees. NVML is loaded if present.
  explicit Collector(std::filesystem::path sysfs_root = "/sys", bool load_nvml = true);
  ~Collector();

  DeviceMetrics collect(Device& device) const;
  HostMetrics collect_host() const;
  const std::string& nvml_status() const noexcept { return nvml_status_; }

 private:
  void add_memory(Device& device, DeviceMetrics& m) const;
  void add_sensors(const Device& device, DeviceMetrics& m) const;

  std::filesystem::path sysfs_root_;
  std::unique_ptr<Nvml> nvml_;
  std::string nvml_status_;
};

}  // namespace crossgpu::telemetry
