// The Vulkan recording: the dispatches recorded once into a secondary command buffer (with their
// own descriptor sets), which a replay executes inside the stream's current batch, so that the
// uploads before it and the downloads after it go in the same submission. Barriers between the
// recorded dispatches are the stream's (each command after everything before it).
#pragma once

#include <memory>
#include <vector>

#include "device/recording.hpp"
#include "device/vulkan/dispatch_profile.hpp"
#include "device/vulkan/vk.hpp"

namespace crossgpu::vulkan {

class StreamState;
class VulkanDevice;

class VulkanRecording final : public RecordedWork {
 public:
  VulkanRecording(VulkanDevice& device, std::shared_ptr<StreamState> stream);
  // Waits for the last replay: the command buffer must not die while the GPU runs it.
  ~VulkanRecording() override;

  void add(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
           std::span<const std::byte> push, Groups groups) override;
  void finish() override;

  vk::CommandBuffer commands() const { return *commands_; }
  void replayed_in(std::uint64_t batch);

 private:
  VulkanDevice& device_;
  std::shared_ptr<StreamState> stream_;
  vk::raii::CommandPool pool_ = nullptr;
  vk::raii::CommandBuffer commands_ = nullptr;
  std::vector<vk::raii::DescriptorPool> descriptor_pools_;
  std::uint64_t last_batch_ = 0;
  std::unique_ptr<DispatchProfile> profile_;  // CROSSGPU_VULKAN_PROFILE=1 only
};

}  // namespace crossgpu::vulkan
