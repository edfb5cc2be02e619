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
  if (DispatchProfile::requested()) {
    if (const double period = device_.timestamp_period_ns(); period > 0) {
      profile_ = std::make_unique<DispatchProfile>(device_.vk_device(), period, device_.properties().name);
      profile_->begin(commands_);
    }
  }
}

void VulkanRecording::replayed_in(std::uint64_t batch) {
  if (profile_) profile_->collect();  // the previous replay's times, before this one resets them
  last_batch_ = batch;
}

VulkanRecording::~VulkanRecording() {
  if (last_batch_ == 0) return;
  try {
    stream_->wait_batch(last_batch_, Event::default_timeout());
    if (profile_) profile_->collect();
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
    if (profile_) profile_->after_dispatch(commands_, kernel.name);
  });
  ++dispatches_;
}

void VulkanRecording::finish() {
  guarded("ending a recording", [&] { commands_.end(); });
}

}  // namespace crossgpu::vulkan
