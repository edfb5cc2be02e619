#include "support/test_devices.hpp"

#include <cctype>
#include <cstdlib>

namespace crossgpu::testing {

Registry& registry() {
  static Registry registry = [] {
    RegistryOptions options;
    options.validation = true;
    if (const char* dir = std::getenv("CROSSGPU_CACHE_DIR")) options.cache_dir = dir;
    return Registry(options);
  }();
  return registry;
}

const std::vector<std::shared_ptr<Device>>& devices() { return registry().devices(); }

std::vector<std::shared_ptr<Device>> vulkan_devices() {
  std::vector<std::shared_ptr<Device>> out;
  for (const auto& device : devices()) {
    if (device->properties().backend == Backend::vulkan) out.push_back(device);
  }
  return out;
}

std::shared_ptr<Device> cpu_device() {
  for (const auto& device : devices()) {
    if (device->properties().backend == Backend::cpu) return device;
  }
  return nullptr;
}

std::string device_test_name(const std::shared_ptr<Device>& device) {
  std::string name = std::string(to_string(device->properties().backend)) + "_";
  for (char c : device->properties().name) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  for (const auto& other : devices()) {
    if (other == device) break;
    if (other->properties().name == device->properties().name) name += "_";
  }
  return name;
}

}  // namespace crossgpu::testing
