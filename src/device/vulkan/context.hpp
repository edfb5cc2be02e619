// The Vulkan instance, shared by every device of the process, and the validation-layer sink.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device/vulkan/vk.hpp"

namespace crossgpu::vulkan {

class Instance {
 public:
  // Throws Error{unsupported} when no Vulkan loader or driver is usable.
  explicit Instance(bool validation);

  const vk::raii::Instance& get() const noexcept { return instance_; }
  std::uint32_t api_version() const noexcept { return api_version_; }
  bool validation() const noexcept { return validation_; }

 private:
  vk::raii::Context context_;
  std::uint32_t api_version_ = VK_API_VERSION_1_1;
  bool validation_ = false;
  vk::raii::Instance instance_ = nullptr;
  vk::raii::DebugUtilsMessengerEXT messenger_ = nullptr;
};

std::string version_string(std::uint32_t version);

}  // namespace crossgpu::vulkan
