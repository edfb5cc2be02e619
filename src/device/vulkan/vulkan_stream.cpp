#include "device/vulkan/vulkan_stream.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/log.hpp"
#include "device/vulkan/vulkan_recording.hpp"

namespace crossgpu::vulkan {
namespace {

constexpr std::uint64_t ring_bytes = 64ull << 20;
constexpr std::uint32_t sets_per_pool = 64;
constexpr std::uint32_t buffers_per_set = 8;
constexpr std::uint64_t import_threshold = 32ull << 20;

using Stage = vk::PipelineStageFlagBits;
using Access = vk::AccessFlagBits;

// Makes the batch's device writes visible to host reads once the batch is known complete.
void host_read_barrier(const vk::raii::CommandBuffer& commands) {
  const vk::MemoryBarrier barrier{.srcAccessMask = Access::eShaderWrite | Access::eTransferWrite,
                                  .dstAccessMask = Access::eHostRead};
  commands.pipelineBarrier(Stage::eComputeShader | Stage::eTransfer, Stage::eHost, {}, barrier, {}, {});
}

class BatchEvent final : public EventState {
 public:
  BatchEvent(std::shared_ptr<StreamState> stream, std::uint64_t batch)
      : stream_(std::move(stream)), batch_(batch) {}
  bool ready() override { return stream_->batch_ready(batch_); }
  void wait(std::chrono::nanoseconds timeout) override { stream_->wait_batch(batch_, timeout); }

 private:
  std::shared_ptr<StreamState> stream_;
  std::uint64_t batch_;
};

VulkanBuffer& vulkan_buffer(BackendBuffer& buffer) { return static_cast<VulkanBuffer&>(buffer); }

}  // namespace

vk::DescriptorSet allocate_descriptor_set(VulkanDevice& device, std::vector<vk::raii::DescriptorPool>& pools,
                                          vk::DescriptorSetLayout layout) {
  const VkDescriptorSetLayout raw_layout = layout;
  for (auto& pool : pools) {
    VkDescriptorSet set = VK_NULL_HANDLE;
    const VkDescriptorSetAllocateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, nullptr,
                                           *pool, 1, &raw_layout};
    const VkResult result = device.vk_device().getDispatcher()->vkAllocateDescriptorSets(
        *device.vk_device(), &info, &set);
    if (result == VK_SUCCESS) return set;
    if (result != VK_ERROR_OUT_OF_POOL_MEMORY && result != VK_ERROR_FRAGMENTED_POOL) {
      fail(errc_of(vk::Result(result)), "allocating a descriptor set: {}", vk::to_string(vk::Result(result)));
    }
  }
  const vk::DescriptorPoolSize size{.type = vk::DescriptorType::eStorageBuffer,
                                    .descriptorCount = sets_per_pool * buffers_per_set};
  pools.emplace_back(device.vk_device(),
                     vk::DescriptorPoolCreateInfo{.maxSets = sets_per_pool, .poolSizeCount = 1, .pPoolSizes = &size});
  return allocate_descriptor_set(device, pools, layout);
}

void record_dispatch(VulkanDevice& device, const vk::raii::CommandBuffer& commands,
                     std::vector<vk::raii::DescriptorPool>& pools, const KernelSpec& kernel,
                     std::span<const ResolvedRange> bindings, std::span<const std::byte> push, Groups groups) {
  if (groups.x > 0xFFFFFFFFull) {
    fail(Errc::out_of_range, "kernel '{}': {} workgroups in x exceed 2^32", kernel.name, groups.x);
  }
  if (bindings.size() > sets_per_pool * buffers_per_set) {
    fail(Errc::invalid_argument, "kernel '{}' has too many bindings", kernel.name);
  }
  const Pipeline& pipeline = device.pipelines().get(kernel);
  const vk::DescriptorSet set = allocate_descriptor_set(device, pools, *pipeline.set_layout);
  std::vector<vk::DescriptorBufferInfo> infos;
  infos.reserve(bindings.size());
  for (const ResolvedRange& b : bindings) {
    infos.push_back({.buffer = vulkan_buffer(*b.buffer).get(), .offset = b.offset, .range = b.bytes});
  }
  std::vector<vk::WriteDescriptorSet> writes;
  for (std::uint32_t i = 0; i < infos.size(); ++i) {
    writes.push_back({.dstSet = set,
                      .dstBinding = i,
                      .descriptorCount = 1,
                      .descriptorType = vk::DescriptorType::eStorageBuffer,
                      .pBufferInfo = &infos[i]});
  }
  device.vk_device().updateDescriptorSets(writes, {});

  commands.bindPipeline(vk::PipelineBindPoint::eCompute, *pipeline.pipeline);
  commands.bindDescriptorSets(vk::PipelineBindPoint::eCompute, *pipeline.layout, 0, set, {});
  if (!push.empty()) {
    commands.getDispatcher()->vkCmdPushConstants(*commands, *pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT,
                                                 0, static_cast<std::uint32_t>(push.size()), push.data());
  }
  // One logical dispatch in pieces of at most maxComputeWorkGroupCount[0] groups; the base
  // keeps gl_WorkGroupID.x contiguous across pieces.
  const std::uint64_t max_x = device.properties().limits.max_workgroup_count[0];
  for (std::uint64_t base = 0; base < groups.x; base += max_x) {
    const auto count = static_cast<std::uint32_t>(std::min(max_x, groups.x - base));
    commands.dispatchBase(static_cast<std::uint32_t>(base), 0, 0, count, groups.y, groups.z);
  }
}

void full_barrier(const vk::raii::CommandBuffer& commands) {
  const vk::MemoryBarrier barrier{
      .srcAccessMask = Access::eShaderWrite | Access::eTransferWrite,
      .dstAccessMask = Access::eShaderRead | Access::eShaderWrite | Access::eTransferRead |
                       Access::eTransferWrite};
  commands.pipelineBarrier(Stage::eComputeShader | Stage::eTransfer,
                           Stage::eComputeShader | Stage::eTransfer, {}, barrier, {}, {});
}

StreamState::StreamState(VulkanDevice& device)
    : device_(device),
      ring_(device, std::min<std::uint64_t>(ring_bytes, device.properties().limits.max_allocation_bytes)) {
  pool_ = guarded("creating a command pool", [&] {
    return vk::raii::CommandPool(device_.vk_device(),
                                 vk::CommandPoolCreateInfo{
                                     .flags = vk::CommandPoolCreateFlagBits::eResetCommandBuffer,
                                     .queueFamilyIndex = device_.compute_family()});
  });
  device_.register_stream(this);
}

StreamState::~StreamState() {
  device_.unregister_stream(this);
  try {
    synchronize();
  } catch (const std::exception& e) {
    log::error("stream shutdown on '{}': {}", device_.properties().name, e.what());
  }
}

StreamState::Batch& StreamState::recording_locked() {
  if (current_) return *current_;
  if (!spare_.empty()) {
    current_.emplace(std::move(spare_.back()));
    spare_.pop_back();
  } else {
    current_.emplace();
    vk::raii::CommandBuffers buffers(device_.vk_device(),
                                     vk::CommandBufferAllocateInfo{.commandPool = *pool_,
                                                                   .level = vk::CommandBufferLevel::ePrimary,
                                                                   .commandBufferCount = 1});
    current_->commands = std::move(buffers.front());
  }
  current_->id = next_batch_++;
  current_->commands.begin(vk::CommandBufferBeginInfo{.flags = vk::CommandBufferUsageFlagBits::eOneTimeSubmit});
  return *current_;
}

void StreamState::begin_command_locked() {
  Batch& batch = recording_locked();
  full_barrier(batch.commands);
  batch.empty = false;
}

Event StreamState::event_for_current_locked() {
  return Event(std::make_shared<BatchEvent>(shared_from_this(), current_->id));
}

void StreamState::submit_locked() {
  if (!current_) return;
  if (current_->empty) return;  // nothing recorded: keep the open batch for later work
  host_read_barrier(current_->commands);
  current_->commands.end();
  current_->serial = device_.timeline().submit(*current_->commands);
  in_flight_.push_back(std::move(*current_));
  current_.reset();
}

void StreamState::retire_locked(std::uint64_t through, bool block, std::chrono::nanoseconds timeout) {
  while (!in_flight_.empty() && in_flight_.front().id <= through) {
    Batch& batch = in_flight_.front();
    if (block) {
      device_.timeline().wait(batch.serial, timeout);
    } else if (!device_.timeline().completed(batch.serial)) {
      break;
    }
    for (const HostCopy& copy : batch.host_copies) {
      device_.allocator().invalidate(ring_.allocation(), copy.ring_offset, copy.bytes);
      std::memcpy(copy.destination, ring_.allocation().mapped + copy.ring_offset, copy.bytes);
    }
    ring_.release_through(batch.id);
    retired_through_ = batch.id;
    batch.commands.reset();
    for (auto& pool : batch.descriptor_pools) pool.reset();
    batch.host_copies.clear();
    batch.imports.clear();
    batch.empty = true;
    spare_.push_back(std::move(batch));
    in_flight_.pop_front();
  }
  device_.collect_garbage();
}

bool StreamState::idle_locked() {
  if (current_ && !current_->empty) return false;
  retire_locked(~std::uint64_t{0}, false, {});
  return in_flight_.empty();
}

StagingRing::Slice StreamState::take_staging_locked(std::uint64_t bytes) {
  for (;;) {
    if (auto slice = ring_.try_take(bytes, recording_locked().id)) return *slice;
    if (!in_flight_.empty()) {
      retire_locked(in_flight_.front().id, true, Event::default_timeout());
    } else if (current_ && !current_->empty) {
      submit_locked();
    } else {
      fail(Errc::internal, "staging ring of {} cannot hold {}", format_bytes(ring_.capacity()),
           format_bytes(bytes));
    }
  }
}

Event StreamState::upload(VulkanBuffer& dst, std::uint64_t offset, std::span<const std::byte> src) {
  std::lock_guard lock(mutex_);
  if (dst.host_pointer() != nullptr && idle_locked()) {
    // Zero-copy: nothing queued can touch dst, so the host writes it directly.
    std::memcpy(dst.host_pointer() + offset, src.data(), src.size());
    device_.allocator().flush(dst.allocation(), offset, src.size());
    return {};
  }
  if (auto import = import_for_transfer(src.data(), src.size())) {
    begin_command_locked();
    current_->commands.copyBuffer(import->buffer(), dst.get(),
                                  vk::BufferCopy{.srcOffset = import->offset(), .dstOffset = offset, .size = src.size()});
    current_->imports.push_back(std::move(import));
    submit_locked();  // large: start the DMA now
    return Event(std::make_shared<BatchEvent>(shared_from_this(), in_flight_.back().id));
  }
  const bool large = src.size() > chunk_bytes();
  for (std::uint64_t done = 0; done < src.size();) {
    const std::uint64_t n = std::min(chunk_bytes(), src.size() - done);
    const StagingRing::Slice slice = take_staging_locked(n);
    std::memcpy(slice.host, src.data() + done, n);
    device_.allocator().flush(ring_.allocation(), slice.offset, n);
    begin_command_locked();
    current_->commands.copyBuffer(ring_.buffer(), dst.get(),
                                  vk::BufferCopy{.srcOffset = slice.offset, .dstOffset = offset + done, .size = n});
    done += n;
    if (large && done < src.size()) submit_locked();  // let the GPU copy while we fill the next chunk
  }
  return event_for_current_locked();
}

Event StreamState::download(VulkanBuffer& src, std::uint64_t offset, std::span<std::byte> dst) {
  std::lock_guard lock(mutex_);
  if (src.host_pointer() != nullptr && idle_locked()) {
    device_.allocator().invalidate(src.allocation(), offset, dst.size());
    std::memcpy(dst.data(), src.host_pointer() + offset, dst.size());
    return {};
  }
  if (auto import = import_for_transfer(dst.data(), dst.size())) {
    begin_command_locked();
    current_->commands.copyBuffer(src.get(), import->buffer(),
                                  vk::BufferCopy{.srcOffset = offset, .dstOffset = import->offset(), .size = dst.size()});
    current_->imports.push_back(std::move(import));
    submit_locked();
    return Event(std::make_shared<BatchEvent>(shared_from_this(), in_flight_.back().id));
  }
  const bool large = dst.size() > chunk_bytes();
  for (std::uint64_t done = 0; done < dst.size();) {
    const std::uint64_t n = std::min(chunk_bytes(), dst.size() - done);
    const StagingRing::Slice slice = take_staging_locked(n);
    begin_command_locked();
    current_->commands.copyBuffer(src.get(), ring_.buffer(),
                                  vk::BufferCopy{.srcOffset = offset + done, .dstOffset = slice.offset, .size = n});
    current_->host_copies.push_back({slice.offset, dst.data() + done, n});
    done += n;
    if (large && done < dst.size()) submit_locked();
  }
  return event_for_current_locked();
}

std::unique_ptr<HostImport> StreamState::import_for_transfer(const void* data, std::uint64_t bytes) {
  // Below a few chunks, pinning the caller's pages costs more than copying them.
  if (bytes < import_threshold) return nullptr;
  // Off unless CROSSGPU_VULKAN_HOST_IMPORT=1. Measured on an H200 and an H100 (NVIDIA 580,
  // 2026-12-06): importing the pages of a memory-mapped model file made later device-local
  // allocations fail with ErrorOutOfDeviceMemory at 0.2 % of the heap, so weights landed in
  // system memory and decode ran 6.8x slower (27.8 against 188 tokens/s). The staging ring
  // costs one host copy and nothing else.
  static const bool enabled = [] {
    const char* value = std::getenv("CROSSGPU_VULKAN_HOST_IMPORT");
    return value != nullptr && std::string_view(value) == "1";
  }();
  if (!enabled) return nullptr;
  return HostImport::try_create(device_, data, bytes);
}

Event StreamState::copy(VulkanBuffer& src, std::uint64_t src_offset, VulkanBuffer& dst,
                        std::uint64_t dst_offset, std::uint64_t bytes) {
  std::lock_guard lock(mutex_);
  begin_command_locked();
  current_->commands.copyBuffer(src.get(), dst.get(),
                                vk::BufferCopy{.srcOffset = src_offset, .dstOffset = dst_offset, .size = bytes});
  return event_for_current_locked();
}

Event StreamState::dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                            std::span<const std::byte> push, Groups groups) {
  std::lock_guard lock(mutex_);
  Batch& batch = recording_locked();
  begin_command_locked();
  record_dispatch(device_, batch.commands, batch.descriptor_pools, kernel, bindings, push, groups);
  return event_for_current_locked();
}

Event StreamState::replay(VulkanRecording& recording) {
  std::lock_guard lock(mutex_);
  begin_command_locked();
  current_->commands.executeCommands(recording.commands());
  recording.replayed_in(current_->id);
  return event_for_current_locked();
}

void StreamState::flush() {
  std::lock_guard lock(mutex_);
  submit_locked();
}

void StreamState::synchronize() {
  std::lock_guard lock(mutex_);
  submit_locked();
  retire_locked(~std::uint64_t{0}, true, Event::default_timeout());
}

bool StreamState::batch_ready(std::uint64_t batch) {
  std::lock_guard lock(mutex_);
  if (current_ && current_->id == batch) return false;
  retire_locked(batch, false, {});
  return retired_through_ >= batch;
}

void StreamState::wait_batch(std::uint64_t batch, std::chrono::nanoseconds timeout) {
  std::lock_guard lock(mutex_);
  if (current_ && current_->id <= batch) submit_locked();
  retire_locked(batch, true, timeout);
}

// --- the Stream face ---

VulkanStream::VulkanStream(VulkanDevice& device)
    : Stream(device), vulkan_device_(device), state_(guarded("creating a stream", [&] { return std::make_shared<StreamState>(device); })) {}

VulkanStream::~VulkanStream() = default;

Event VulkanStream::do_upload(BackendBuffer& dst, std::uint64_t dst_offset, std::span<const std::byte> src) {
  return guarded("upload", [&] { return state_->upload(vulkan_buffer(dst), dst_offset, src); });
}

Event VulkanStream::do_download(BackendBuffer& src, std::uint64_t src_offset, std::span<std::byte> dst) {
  return guarded("download", [&] { return state_->download(vulkan_buffer(src), src_offset, dst); });
}

Event VulkanStream::do_copy(BackendBuffer& src, std::uint64_t src_offset, BackendBuffer& dst,
                            std::uint64_t dst_offset, std::uint64_t bytes) {
  return guarded("copy", [&] {
    return state_->copy(vulkan_buffer(src), src_offset, vulkan_buffer(dst), dst_offset, bytes);
  });
}

Event VulkanStream::do_dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                                std::span<const std::byte> push, Groups groups) {
  return guarded("dispatch", [&] { return state_->dispatch(kernel, bindings, push, groups); });
}

std::unique_ptr<RecordedWork> VulkanStream::do_begin_recording() {
  return guarded("begin_recording", [&] { return std::make_unique<VulkanRecording>(vulkan_device_, state_); });
}

Event VulkanStream::do_replay(RecordedWork& work) {
  return guarded("replay", [&] { return state_->replay(static_cast<VulkanRecording&>(work)); });
}

void VulkanStream::do_flush() { guarded("flush", [&] { state_->flush(); }); }
void VulkanStream::do_synchronize() { guarded("synchronize", [&] { state_->synchronize(); }); }

}  // namespace crossgpu::vulkan
