#include "telemetry/collector.hpp"

#include "telemetry/sysfs.hpp"

namespace crossgpu::telemetry {
namespace {

// The hwmon chip that reports for a GPU of this vendor, by driver name. Good enough while a host
// has one GPU per driver; matching by PCI address would be needed for two of the same vendor.
const char* hwmon_driver(Vendor vendor) {
  switch (vendor) {
    case Vendor::amd: return "amdgpu";
    case Vendor::intel: return "i915";
    case Vendor::nvidia: return "nouveau";  // the open driver; the proprietary one reports via NVML
    default: return nullptr;
  }
}

template <typename T>
Measured<T> from_optional(const std::optional<T>& v, const std::string& source, const std::string& missing) {
  return v ? Measured<T>::of(*v, source) : Measured<T>::unavailable(missing);
}

}  // namespace

Collector::Collector(std::filesystem::path sysfs_root, bool load_nvml) : sysfs_root_(std::move(sysfs_root)) {
  if (load_nvml) nvml_ = Nvml::load(&nvml_status_);
  if (nvml_) nvml_status_ = "loaded";
}

Collector::~Collector() = default;

void Collector::add_memory(Device& device, DeviceMetrics& m) const {
  std::uint64_t total = 0, free_bytes = 0, budget = 0;
  bool estimate = false, has_budget = false;
  for (const MemoryHeap& heap : device.refreshed_properties().heaps) {
    if (!heap.device_local) continue;
    total += heap.total_bytes;
    free_bytes += heap.free_bytes;
    budget += heap.budget_bytes;
    estimate |= heap.free_is_estimate;
    has_budget |= heap.budget_bytes > 0;
  }
  const std::string source = estimate ? "heap size minus crossgpu's allocations (no budget extension)"
                                      : std::string(device.properties().backend == Backend::vulkan
                                                        ? "vulkan memory budget"
                                                        : "/proc/meminfo");
  m.memory_total_bytes = Measured<std::uint64_t>::of(total, "device heaps");
  m.memory_free_bytes = Measured<std::uint64_t>::of(free_bytes, source);
  m.memory_used_bytes = Measured<std::uint64_t>::of(total > free_bytes ? total - free_bytes : 0, source);
  m.memory_budget_bytes = has_budget ? Measured<std::uint64_t>::of(budget, "vulkan memory budget")
                                     : Measured<std::uint64_t>::unavailable("no VK_EXT_memory_budget");
}

void Collector::add_sensors(const Device& device, DeviceMetrics& m) const {
  const std::string none = "no sensor for this device";
  m.busy_fraction = m.temperature_c = m.power_w = m.clock_mhz = Measured<double>::unavailable(none);
  if (nvml_) {
    if (auto r = nvml_->read(device.id())) {
      m.busy_fraction = from_optional(r->busy_fraction, "nvml", "nvml: no utilization");
      m.temperature_c = from_optional(r->temperature_c, "nvml", "nvml: no temperature");
      m.power_w = from_optional(r->power_w, "nvml", "nvml: no power");
      m.clock_mhz = from_optional(r->clock_mhz, "nvml", "nvml: no clock");
      return;
    }
  }
  const char* driver = hwmon_driver(device.properties().vendor);
  if (driver == nullptr) return;
  for (const HwmonChip& chip : read_hwmon(sysfs_root_)) {
    if (chip.name != driver) continue;
    const std::string source = "hwmon " + chip.name;
    if (!chip.temperatures_c.empty()) m.temperature_c = Measured<double>::of(chip.temperatures_c.front(), source);
    m.power_w = from_optional(chip.power_w, source, source + ": no power");
    m.clock_mhz = from_optional(chip.clock_mhz, source, source + ": no clock");
    m.busy_fraction = from_optional(chip.busy_fraction, source, source + ": no busy percent");
    return;
  }
}

DeviceMetrics Collector::collect(Device& device) const {
  DeviceMetrics m;
  m.device_id = device.id();
  add_memory(device, m);
  add_sensors(device, m);
  return m;
}

HostMetrics Collector::collect_host() const {
  HostMetrics h;
  const PowerSupplyState power = read_power_supplies(sysfs_root_);
  const std::string source = "power_supply " + power.source;
  h.battery_level = from_optional(power.battery_level, source, "no battery");
  h.charging = from_optional(power.charging, source, "no battery status");
  h.on_mains = from_optional(power.mains_online, source, "no mains supply reported");
  h.max_temperature_c = Measured<double>::unavailable("no thermal zones");
  const std::vector<ThermalZone> zones = read_thermal_zones(sysfs_root_);
  h.thermal_state = thermal_state_of(zones);
  for (const ThermalZone& zone : zones) {
    if (!h.max_temperature_c.value || zone.temperature_c > *h.max_temperature_c.value) {
      h.max_temperature_c = Measured<double>::of(zone.temperature_c, "thermal zone " + zone.type);
      h.hottest_zone = zone.type;
    }
  }
  return h;
}

}  // namespace crossgpu::telemetry
