// The Vulkan stream: records work into a command buffer ("batch") and submits lazily — on
// flush, on a wait, or when a large transfer wants the GPU to start early. A full memory barrier
// separates consecutive commands, so work runs in stream order without callers thinking about
// hazards. Transfers of host memory go through the staging ring in chunks, or straight through
// the mapping when the buffer is host-visible (UMA, lavapipe) and the stream is idle.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "device/stream.hpp"
#include "device/vulkan/host_import.hpp"
#include "device/vulkan/staging_ring.hpp"
#include "device/vulkan/vulkan_device.hpp"

namespace crossgpu::vulkan {

class VulkanRecording;

// What a batch and a recording share: descriptor sets from growing pools, one dispatch's
// commands (pipeline, set, push constants, groups in pieces of the device's limit), and the
// barrier that orders each command after everything before it, for compute and transfer.
vk::DescriptorSet allocate_descriptor_set(VulkanDevice& device, std::vector<vk::raii::DescriptorPool>& pools,
                                          vk::DescriptorSetLayout layout);
void record_dispatch(VulkanDevice& device, const vk::raii::CommandBuffer& commands,
                     std::vector<vk::raii::DescriptorPool>& pools, const KernelSpec& kernel,
                     std::span<const ResolvedRange> bindings, std::span<const std::byte> push, Groups groups);
void full_barrier(const vk::raii::CommandBuffer& commands);

class StreamState : public std::enable_shared_from_this<StreamState> {
 public:
  explicit StreamState(VulkanDevice& device);
  ~StreamState();

  Event upload(VulkanBuffer& dst, std::uint64_t offset, std::span<const std::byte> src);
  Event download(VulkanBuffer& src, std::uint64_t offset, std::span<std::byte> dst);
  Event copy(VulkanBuffer& src, std::uint64_t src_offset, VulkanBuffer& dst,
             std::uint64_t dst_offset, std::uint64_t bytes);
  Event dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                 std::span<const std::byte> push, Groups groups);
  // Runs a recording's secondary command buffer inside the current batch.
  Event replay(VulkanRecording& recording);
  void flush();
  void synchronize();

  // For events: batch ids, not device serials, since a batch has no serial until submitted.
  bool batch_ready(std::uint64_t batch);
  void wait_batch(std::uint64_t batch, std::chrono::nanoseconds timeout);

 private:
  struct HostCopy {
    std::uint64_t ring_offset;
    std::byte* destination;
    std::uint64_t bytes;
  };
  struct Batch {
    // User-provided: clang cannot default-construct a nested class with member initializers
    // from inside its enclosing class (std::optional<Batch> below).
    Batch() {}
    std::uint64_t id = 0;
    std::uint64_t serial = 0;
    vk::raii::CommandBuffer commands = nullptr;
    std::vector<vk::raii::DescriptorPool> descriptor_pools;
    std::vector<HostCopy> host_copies;
    std::vector<std::unique_ptr<HostImport>> imports;  // caller memory in use by this batch
    bool empty = true;
  };

  Batch& recording_locked();
  void begin_command_locked();
  void submit_locked();
  void retire_locked(std::uint64_t through, bool block, std::chrono::nanoseconds timeout);
  bool idle_locked();
  StagingRing::Slice take_staging_locked(std::uint64_t bytes);
  Event event_for_current_locked();
  std::uint64_t chunk_bytes() const { return ring_.capacity() / 4; }
  // Imports caller memory for a large transfer; nullptr when it should be staged instead.
  std::unique_ptr<HostImport> import_for_transfer(const void* data, std::uint64_t bytes);

  VulkanDevice& device_;
  std::mutex mutex_;
  vk::raii::CommandPool pool_ = nullptr;
  StagingRing ring_;
  std::optional<Batch> current_;
  std::deque<Batch> in_flight_;
  std::vector<Batch> spare_;
  std::uint64_t next_batch_ = 1;
  std::uint64_t retired_through_ = 0;
};

class VulkanStream final : public Stream {
 public:
  explicit VulkanStream(VulkanDevice& device);
  ~VulkanStream() override;

 protected:
  Event do_upload(BackendBuffer& dst, std::uint64_t dst_offset,
                  std::span<const std::byte> src) override;
  Event do_download(BackendBuffer& src, std::uint64_t src_offset, std::span<std::byte> dst) override;
  Event do_copy(BackendBuffer& src, std::uint64_t src_offset, BackendBuffer& dst,
                std::uint64_t dst_offset, std::uint64_t bytes) override;
  Event do_dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                    std::span<const std::byte> push, Groups groups) override;
  void do_flush() override;
  void do_synchronize() override;
  std::unique_ptr<RecordedWork> do_begin_recording() override;
  Event do_replay(RecordedWork& work) override;

 private:
  VulkanDevice& vulkan_device_;
  std::shared_ptr<StreamState> state_;
};

}  // namespace crossgpu::vulkan
