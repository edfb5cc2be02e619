#include "device/vulkan/vulkan_backend.hpp"

#include "core/log.hpp"
#include "device/vulkan/context.hpp"
#include "device/vulkan/vulkan_device.hpp"

namespace crossgpu::vulkan {

Enumeration enumerate_devices(const Options& options) {
  Enumeration out;
  std::shared_ptr<Instance> instance;
  try {
    instance = std::make_shared<Instance>(options.validation);
  } catch (const std::exception& e) {
    out.warnings.push_back(fmt::format(
        "Vulkan is not available ({}); install a driver (mesa-vulkan-drivers gives lavapipe)", e.what()));
    return out;
  }
  std::vector<vk::raii::PhysicalDevice> physicals;
  try {
    physicals = instance->get().enumeratePhysicalDevices();
  } catch (const vk::SystemError& e) {
    out.warnings.push_back(fmt::format("enumerating Vulkan devices failed: {}", e.what()));
    return out;
  }
  if (physicals.empty()) out.warnings.push_back("the Vulkan loader found no devices");
  for (auto& physical : physicals) {
    const std::string name = physical.getProperties().deviceName.data();
    try {
      out.devices.push_back(std::make_shared<VulkanDevice>(instance, std::move(physical), options.cache_dir));
    } catch (const std::exception& e) {
      // One broken driver must not hide the other devices.
      out.warnings.push_back(fmt::format("skipping Vulkan device '{}': {}", name, e.what()));
    }
  }
  return out;
}

}  // namespace crossgpu::vulkan
