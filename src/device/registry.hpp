// The registry finds every local device (Vulkan GPUs, lavapipe, the CPU) and owns them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "device/device.hpp"

namespace crossgpu {

struct RegistryOptions {
  bool vulkan = true;
  bool cpu = true;
  // Vulkan validation layers; also on when CROSSGPU_VULKAN_VALIDATION=1.
  bool validation = false;
  // Skip Vulkan CPU implementations (lavapipe) when a real GPU exists.
  bool hide_software_vulkan_when_gpu_present = false;
  // Directory for the on-disk Vulkan pipeline cache; empty: $XDG_CACHE_HOME/crossgpu or
  // ~/.cache/crossgpu. "-" disables it.
  std::string cache_dir;
};

class Registry {
 public:
  explicit Registry(RegistryOptions options = {});
  ~Registry();

  const std::vector<std::shared_ptr<Device>>& devices() const noexcept { return devices_; }
  // Throws Errc::not_found listing the ids that exist.
  std::shared_ptr<Device> find(std::string_view id) const;
  // Adds a device found elsewhere — a peer's device through the cluster (cluster::RemoteNode) —
  // so that it is used like a local one. Throws Errc::invalid_argument for a null device or an
  // id already present.
  void add(std::shared_ptr<Device> device);

  // Non-fatal problems met while enumerating (a Vulkan loader without drivers, say).
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

 private:
  std::vector<std::shared_ptr<Device>> devices_;
  std::vector<std::string> warnings_;
};

}  // namespace crossgpu
