#include "telemetry/sysfs.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace crossgpu::telemetry {
namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_word(const fs::path& file) {
  std::ifstream in(file);
  std::string word;
  if (!(in >> word)) return std::nullopt;
  return word;
}

// Entries of a sysfs class directory in name order (hwmon0, hwmon1, ...), or none when absent.
std::vector<fs::path> class_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<double> temperatures(const fs::path& chip) {
  std::vector<double> out;
  for (int i = 1; i <= 16; ++i) {
    if (auto milli = read_number(chip / ("temp" + std::to_string(i) + "_input"))) out.push_back(*milli / 1000.0);
  }
  return out;
}

void keep_lowest(std::optional<double>& slot, double value) {
  if (!slot || value < *slot) slot = value;
}

// Trip points in millidegrees; a zone lists at most a dozen in practice.
void read_trip_points(const fs::path& zone, ThermalZone& out) {
  for (int i = 0; i < 32; ++i) {
    const std::string stem = "trip_point_" + std::to_string(i);
    const auto type = read_word(zone / (stem + "_type"));
    if (!type) break;
    const auto milli = read_number(zone / (stem + "_temp"));
    if (!milli || *milli <= 0) continue;  // disabled trips read 0 or negative
    if (*type == "passive") keep_lowest(out.passive_trip_c, *milli / 1000.0);
    if (*type == "hot" || *type == "critical") keep_lowest(out.critical_trip_c, *milli / 1000.0);
  }
}

}  // namespace

std::optional<double> read_number(const fs::path& file) {
  auto word = read_word(file);
  if (!word) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(word->c_str(), &end);
  if (end == word->c_str() || *end != '\0') return std::nullopt;
  return value;
}

std::vector<HwmonChip> read_hwmon(const fs::path& root) {
  std::vector<HwmonChip> chips;
  for (const fs::path& dir : class_entries(root / "class" / "hwmon")) {
    HwmonChip chip;
    chip.path = dir;
    chip.name = read_word(dir / "name").value_or("");
    chip.temperatures_c = temperatures(dir);
    auto power = read_number(dir / "power1_average");
    if (!power) power = read_number(dir / "power1_input");
    if (power) chip.power_w = *power / 1e6;
    if (auto hz = read_number(dir / "freq1_input")) chip.clock_mhz = *hz / 1e6;
    if (auto busy = read_number(dir / "device" / "gpu_busy_percent")) chip.busy_fraction = *busy / 100.0;
    chips.push_back(std::move(chip));
  }
  return chips;
}

std::vector<ThermalZone> read_thermal_zones(const fs::path& root) {
  std::vector<ThermalZone> zones;
  for (const fs::path& dir : class_entries(root / "class" / "thermal")) {
    if (dir.filename().string().rfind("thermal_zone", 0) != 0) continue;
    auto milli = read_number(dir / "temp");
    if (!milli) continue;
    ThermalZone zone{read_word(dir / "type").value_or(dir.filename().string()), *milli / 1000.0};
    read_trip_points(dir, zone);
    zones.push_back(std::move(zone));
  }
  return zones;
}

PowerSupplyState read_power_supplies(const fs::path& root) {
  PowerSupplyState state;
  for (const fs::path& dir : class_entries(root / "class" / "power_supply")) {
    const std::string type = read_word(dir / "type").value_or("");
    if (type == "Battery") {
      if (auto percent = read_number(dir / "capacity")) state.battery_level = std::clamp(*percent / 100.0, 0.0, 1.0);
      if (auto status = read_word(dir / "status")) state.charging = *status == "Charging" || *status == "Full";
    } else if (type == "Mains" || type == "USB" || type == "USB_PD" || type == "Wireless") {
      if (auto online = read_number(dir / "online")) {
        state.mains_online = state.mains_online.value_or(false) || *online != 0;
      }
    } else {
      continue;
    }
    state.source += (state.source.empty() ? "" : ",") + dir.filename().string();
  }
  return state;
}

}  // namespace crossgpu::telemetry
