#include "device/vulkan/context.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/log.hpp"
#include "device/vulkan/vulkan_backend.hpp"

namespace crossgpu::vulkan {
namespace {

std::mutex messages_mutex;
std::vector<std::string> pending_messages;
std::uint64_t message_count = 0;

VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT,
    const VkDebugUtilsMessengerCallbackDataEXT* data, void*) {
  const char* text = data && data->pMessage ? data->pMessage : "(no message)";
  const char* level = severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning";
  log::error("vulkan validation {}: {}", level, text);
  std::lock_guard lock(messages_mutex);
  ++message_count;
  pending_messages.push_back(std::string(level) + ": " + text);
  return VK_FALSE;
}

bool has_layer(const vk::raii::Context& context, const char* name) {
  for (const auto& layer : context.enumerateInstanceLayerProperties()) {
    if (std::strcmp(layer.layerName, name) == 0) return true;
  }
  return false;
}

bool has_extension(const vk::raii::Context& context, const char* name) {
  for (const auto& ext : context.enumerateInstanceExtensionProperties()) {
    if (std::strcmp(ext.extensionName, name) == 0) return true;
  }
  return false;
}

constexpr const char* validation_layer = "VK_LAYER_KHRONOS_validation";

}  // namespace

Errc errc_of(vk::Result result) noexcept {
  switch (result) {
    case vk::Result::eErrorOutOfHostMemory:
    case vk::Result::eErrorOutOfDeviceMemory:
    case vk::Result::eErrorOutOfPoolMemory:
    case vk::Result::eErrorFragmentedPool:
    case vk::Result::eErrorFragmentation:
      return Errc::out_of_memory;
    case vk::Result::eErrorDeviceLost: return Errc::device_lost;
    case vk::Result::eTimeout: return Errc::timeout;
    case vk::Result::eErrorFeatureNotPresent:
    case vk::Result::eErrorExtensionNotPresent:
    case vk::Result::eErrorLayerNotPresent:
    case vk::Result::eErrorIncompatibleDriver:
    case vk::Result::eErrorFormatNotSupported:
      return Errc::unsupported;
    default: return Errc::backend_failure;
  }
}

std::string version_string(std::uint32_t version) {
  return fmt::format("{}.{}.{}", VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version),
                     VK_API_VERSION_PATCH(version));
}

Instance::Instance(bool validation) {
  guarded("creating the Vulkan instance", [&] {
    // Ask for the newest API this loader offers, up to 1.3; devices may support less.
    api_version_ = std::min<std::uint32_t>(context_.enumerateInstanceVersion(), VK_API_VERSION_1_3);
    if (api_version_ < VK_API_VERSION_1_1) {
      fail(Errc::unsupported, "the Vulkan loader offers API {}; crossgpu needs 1.1",
           version_string(api_version_));
    }
    std::vector<const char*> layers;
    std::vector<const char*> extensions;
    if (validation) {
      if (has_layer(context_, validation_layer) &&
          has_extension(context_, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
        layers.push_back(validation_layer);
        extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
        validation_ = true;
      } else {
        log::warn("Vulkan validation requested but {} is not installed "
                  "(apt install vulkan-validationlayers)", validation_layer);
      }
    }
    const vk::ApplicationInfo app{.pApplicationName = "crossgpu",
                                  .applicationVersion = 1,
                                  .pEngineName = "crossgpu",
                                  .engineVersion = 1,
                                  .apiVersion = api_version_};
    const vk::InstanceCreateInfo info{.pApplicationInfo = &app,
                                      .enabledLayerCount = static_cast<std::uint32_t>(layers.size()),
                                      .ppEnabledLayerNames = layers.data(),
                                      .enabledExtensionCount =
                                          static_cast<std::uint32_t>(extensions.size()),
                                      .ppEnabledExtensionNames = extensions.data()};
    instance_ = vk::raii::Instance(context_, info);
    if (validation_) {
      using Severity = vk::DebugUtilsMessageSeverityFlagBitsEXT;
      using Type = vk::DebugUtilsMessageTypeFlagBitsEXT;
      const vk::DebugUtilsMessengerCreateInfoEXT messenger_info{
          .messageSeverity = Severity::eWarning | Severity::eError,
          .messageType = Type::eGeneral | Type::eValidation | Type::ePerformance,
          .pfnUserCallback = on_validation_message};
      messenger_ = vk::raii::DebugUtilsMessengerEXT(instance_, messenger_info);
    }
  });
}

std::uint64_t validation_message_count() {
  std::lock_guard lock(messages_mutex);
  return message_count;
}

std::vector<std::string> take_validation_messages() {
  std::lock_guard lock(messages_mutex);
  return std::exchange(pending_messages, {});
}

}  // namespace crossgpu::vulkan
