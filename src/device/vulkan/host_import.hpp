// Imports caller-owned host memory as a transfer buffer (VK_EXT_external_memory_host), so a
// large upload or download DMAs straight from/to the caller's pages instead of being copied
// through the staging ring by the CPU. The page-aligned range around the caller's span is
// imported; the import must outlive the commands that use it.
#pragma once

#include <memory>

#include "device/vulkan/vk.hpp"

namespace crossgpu::vulkan {

class VulkanDevice;

class HostImport {
 public:
  // Returns nullptr when the device cannot import this memory (no extension, a mapping the
  // driver refuses such as read-only pages): callers fall back to staging.
  static std::unique_ptr<HostImport> try_create(VulkanDevice& device, const void* data,
                                                std::uint64_t bytes);

  vk::Buffer buffer() const noexcept { return *buffer_; }
  // Offset of the caller's first byte inside buffer().
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  HostImport() = default;
  vk::raii::Buffer buffer_ = nullptr;
  vk::raii::DeviceMemory memory_ = nullptr;
  std::uint64_t offset_ = 0;
};

}  // namespace crossgpu::vulkan
