#include "apps/device_options.hpp"

#include <algorithm>
#include <cstdio>

#include "device/vulkan/vulkan_backend.hpp"

namespace crossgpu::apps {

void DeviceOptions::add_to(CLI::App& command, bool filter) {
  command.add_flag("--validation", validation,
                   "enable the Vulkan validation layers (also CROSSGPU_VULKAN_VALIDATION=1)");
  command.add_flag("--cpu-only", cpu_only, "skip Vulkan: use the CPU device alone");
  if (filter) {
    command.add_option("-d,--device", device_ids,
                       "only the device with this id (see `crossgpu devices`); repeatable");
  }
}

RegistryOptions DeviceOptions::registry_options() const {
  RegistryOptions options;
  options.validation = validation;
  options.vulkan = !cpu_only;
  return options;
}

std::vector<std::shared_ptr<Device>> DeviceOptions::select(const Registry& registry) const {
  if (device_ids.empty()) return registry.devices();
  std::vector<std::shared_ptr<Device>> chosen;
  for (const std::string& id : device_ids) {
    std::shared_ptr<Device> device = registry.find(id);
    if (std::find(chosen.begin(), chosen.end(), device) == chosen.end()) chosen.push_back(device);
  }
  return chosen;
}

std::size_t report_validation_messages() {
  const std::vector<std::string> messages = vulkan::take_validation_messages();
  for (const std::string& message : messages) {
    std::fprintf(stderr, "vulkan validation: %s\n", message.c_str());
  }
  return messages.size();
}

}  // namespace crossgpu::apps
