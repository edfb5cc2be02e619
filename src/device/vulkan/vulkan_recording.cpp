#include "device/vulkan/vulkan_recording.hpp"

#include "core/log.hpp"
#include "device/event.hpp"
#include "device/vulkan/vulkan_device.hpp"
#include "device/vulkan/vulkan_stream.hpp"

namespace crossgpu::vulkan {

VulkanRecording::VulkanRecording(VulkanDevice& device, std::shared_ptr<StreamState> stream)
    : device_(device), stream_(std::move(stream)) {
  pool_ = vk::raii::CommandPool(device_.vk_device(),
                                vk::CommandPoolCreateInfo{.queueFamilyIndex = device_.compute_family()});
  vk::raii::CommandBuffers buffers(device_.vk_device(),
                                   vk::CommandBufferAllocateInfo{.commandPool = *pool_,
                                                                 .level = vk::CommandBufferLevel::eSecondary,
                                                                 .commandBufferCount = 1});
  commands_ = std::move(buffers.front());
  const vk::CommandBufferInheritanceInfo inheritance{};
  // Simultaneous use: a replay may be queued again before the previous one has run.
  commands_.begin(vk::CommandBufferBeginInfo{.flags = vk::CommandBufferUsageFlagBits::eSimultaneousUse,
                                             .pInheritanceInfo = &inheritance});
}

VulkanRecording::~VulkanRecording() {
  if (last_batch_ == 0) return;
  try {
    stream_->wait_batch(last_batch_, Event::default_timeout());
  } catch (const std::exception& e) {
    log::error("recording on '{}' freed while its replay could not be waited for: {}",
               device_.properties().name, e.what());
  }
}

void VulkanRecording::add(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                          std::span<const std::byte> push, Groups groups) {
  guarded("recording a dispatch", [&] {
    if (dispatches_ > 0) full_barrier(commands_);
    record_dispatch(device_, commands_, descriptor_pools_, kernel, bindings, push, groups);
  });
  ++dispatches_;
}

void VulkanRecording::finish() {
  guarded("ending a recording", [&] { commands_.end(); });
}

}  // namespace crossgpu::vulkan
