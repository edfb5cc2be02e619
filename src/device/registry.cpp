#include "device/registry.hpp"

#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "core/log.hpp"
#include "device/cpu/cpu_device.hpp"
#include "device/vulkan/vulkan_backend.hpp"

namespace crossgpu {
namespace {

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/crossgpu";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.cache/crossgpu";
  }
  return {};
}

bool env_flag(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::string(value) == "1";
}

}  // namespace

Registry::Registry(RegistryOptions options) {
  log::init_from_env();
  if (options.vulkan) {
    vulkan::Options vk;
    vk.validation = options.validation || env_flag("CROSSGPU_VULKAN_VALIDATION");
    vk.cache_dir = options.cache_dir == "-" ? std::string()
                   : options.cache_dir.empty() ? default_cache_dir()
                                               : options.cache_dir;
    vulkan::Enumeration found = vulkan::enumerate_devices(vk);
    warnings_ = std::move(found.warnings);
    bool has_gpu = false;
    for (const auto& device : found.devices) {
      has_gpu |= device->properties().type != DeviceType::cpu;
    }
    for (auto& device : found.devices) {
      if (options.hide_software_vulkan_when_gpu_present && has_gpu &&
          device->properties().type == DeviceType::cpu) {
        continue;
      }
      devices_.push_back(std::move(device));
    }
  }
  if (options.cpu) devices_.push_back(make_cpu_device());
  for (const std::string& warning : warnings_) log::warn("{}", warning);
}

Registry::~Registry() = default;

void Registry::add(std::shared_ptr<Device> device) {
  if (!device) fail(Errc::invalid_argument, "Registry::add: the device is null");
  for (const auto& existing : devices_) {
    if (existing->id() == device->id()) {
      fail(Errc::invalid_argument, "Registry::add: a device with id '{}' is already registered", device->id());
    }
  }
  devices_.push_back(std::move(device));
}

std::shared_ptr<Device> Registry::find(std::string_view id) const {
  std::string known;
  for (const auto& device : devices_) {
    if (device->id() == id) return device;
    known += (known.empty() ? "" : ", ") + device->id();
  }
  fail(Errc::not_found, "no device with id '{}'; devices here: {}", id,
       known.empty() ? "none" : known);
}

}  // namespace crossgpu
