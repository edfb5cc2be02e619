// Linux sysfs readers for hwmon chips, thermal zones and power supplies. Android exposes the same
// trees, so one code path serves desktops, ARM boards and phones. Every reader takes the sysfs
// root so that tests run on fixture trees.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace crossgpu::telemetry {

struct HwmonChip {
  std::string name;                        // the chip's `name` file: amdgpu, nouveau, coretemp...
  std::filesystem::path path;
  std::vector<double> temperatures_c;      // temp*_input, in order
  std::optional<double> power_w;           // power1_average, else power1_input (microwatts)
  std::optional<double> clock_mhz;         // freq1_input (hertz), the GPU core clock on amdgpu
  std::optional<double> busy_fraction;     // device/gpu_busy_percent next to amdgpu chips
};

struct ThermalZone {
  std::string type;  // "cpu-thermal", "gpuss-0", "x86_pkg_temp"...
  double temperature_c = 0;
  // The zone's trip points (trip_point_N_temp/_type): where the kernel starts to throttle
  // (the lowest "passive" trip) and where it shuts down ("hot" or "critical", the lowest).
  std::optional<double> passive_trip_c;
  std::optional<double> critical_trip_c;
};

struct PowerSupplyState {
  std::optional<double> battery_level;  // 0..1, from capacity (percent)
  std::optional<bool> charging;         // status Charging/Full vs Discharging/Not charging
  std::optional<bool> mains_online;     // any Mains/USB supply reporting online=1
  std::string source;                   // the supply names read
};

std::vector<HwmonChip> read_hwmon(const std::filesystem::path& sysfs_root = "/sys");
std::vector<ThermalZone> read_thermal_zones(const std::filesystem::path& sysfs_root = "/sys");
PowerSupplyState read_power_supplies(const std::filesystem::path& sysfs_root = "/sys");

// Reads one number from a sysfs attribute; nullopt when absent or not a number (sysfs files can
// vanish between listing and reading, and some drivers return errors on read).
std::optional<double> read_number(const std::filesystem::path& file);

}  // namespace crossgpu::telemetry
