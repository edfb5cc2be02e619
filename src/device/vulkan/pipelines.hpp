// Compute pipelines built from embedded SPIR-V, created once per kernel per device and kept in a
// VkPipelineCache that is saved to disk, so the second start of a process skips shader compiles.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "device/kernel.hpp"
#include "device/vulkan/vk.hpp"

namespace crossgpu::vulkan {

struct Pipeline {
  vk::raii::ShaderModule shader = nullptr;
  vk::raii::DescriptorSetLayout set_layout = nullptr;
  vk::raii::PipelineLayout layout = nullptr;
  vk::raii::Pipeline pipeline = nullptr;
};

class Pipelines {
 public:
  // cache_file empty: no on-disk cache.
  Pipelines(const vk::raii::Device& device, const vk::PhysicalDeviceProperties& props,
            std::filesystem::path cache_file);
  ~Pipelines();  // saves the cache

  const Pipeline& get(const KernelSpec& kernel);
  void save() const noexcept;
  std::size_t size() const;

 private:
  Pipeline build(const KernelSpec& kernel) const;
  std::vector<std::uint8_t> load_cache_file(const vk::PhysicalDeviceProperties& props) const;

  const vk::raii::Device& device_;
  std::filesystem::path cache_file_;
  vk::raii::PipelineCache cache_ = nullptr;
  mutable std::mutex mutex_;
  // Keyed by the SPIR-V's address (each shader is a distinct static array) and the values of
  // its specialization constants.
  using Key = std::pair<const std::uint32_t*, std::vector<std::uint32_t>>;
  std::map<Key, std::unique_ptr<Pipeline>> pipelines_;
};

}  // namespace crossgpu::vulkan
