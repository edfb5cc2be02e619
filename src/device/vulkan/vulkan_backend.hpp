// Entry point of the Vulkan backend: enumerate the Vulkan devices of this machine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device/device.hpp"

namespace crossgpu::vulkan {

struct Options {
  bool validation = false;  // enable VK_LAYER_KHRONOS_validation and count its messages
  std::string cache_dir;    // pipeline cache directory; empty disables the on-disk cache
};

struct Enumeration {
  std::vector<std::shared_ptr<Device>> devices;
  std::vector<std::string> warnings;
};

// Never throws for a machine without Vulkan: that is reported in `warnings`.
Enumeration enumerate_devices(const Options& options);

// Validation-layer messages (warnings and errors) seen by every instance of this process.
std::uint64_t validation_message_count();
std::vector<std::string> take_validation_messages();

}  // namespace crossgpu::vulkan
