// One Vulkan physical device as a crossgpu Device: logical device, queues, memory, pipelines.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "device/device.hpp"
#include "device/vulkan/allocator.hpp"
#include "device/vulkan/context.hpp"
#include "device/vulkan/pipelines.hpp"
#include "device/vulkan/timeline.hpp"

namespace crossgpu::vulkan {

class StreamState;

// A VkBuffer bound to a sub-allocated range of device memory.
class VulkanBuffer final : public BackendBuffer {
 public:
  VulkanBuffer(const vk::raii::Device& device, Allocator& allocator, std::uint64_t bytes,
               MemoryKind kind);
  ~VulkanBuffer() override;
  std::byte* host_pointer() noexcept override { return allocation_.mapped; }
  vk::Buffer get() const noexcept { return *buffer_; }
  const Allocation& allocation() const noexcept { return allocation_; }

 private:
  Allocator& allocator_;
  vk::raii::Buffer buffer_ = nullptr;
  Allocation allocation_;
};

class VulkanDevice final : public Device {
 public:
  VulkanDevice(std::shared_ptr<Instance> instance, vk::raii::PhysicalDevice physical,
               const std::filesystem::path& cache_dir);
  ~VulkanDevice() override;

  const vk::raii::Device& vk_device() const noexcept { return device_; }
  Allocator& allocator() noexcept { return *allocator_; }
  Pipelines& pipelines() noexcept { return *pipelines_; }
  Timeline& timeline() noexcept { return *timeline_; }
  std::uint32_t compute_family() const noexcept { return compute_family_; }
  vk::Queue compute_queue() const noexcept { return compute_queue_; }
  // minImportedHostPointerAlignment, or 0 when host memory cannot be imported.
  std::uint64_t host_import_alignment() const noexcept;
  // Nanoseconds per timestamp tick on the compute queue, or 0 when it cannot write timestamps.
  double timestamp_period_ns() const;

  void register_stream(StreamState* stream);
  void unregister_stream(StreamState* stream);
  // Destroys released buffers whose last possible use has completed.
  void collect_garbage();

 protected:
  std::unique_ptr<BackendBuffer> do_allocate(std::uint64_t bytes, MemoryKind kind) override;
  void do_release(std::unique_ptr<BackendBuffer> buffer) noexcept override;
  std::unique_ptr<Stream> do_create_stream() override;
  std::vector<MemoryHeap> do_query_heaps() override;
  void do_flush_mapped(BackendBuffer& buffer, std::uint64_t offset, std::uint64_t bytes) override;
  void do_invalidate_mapped(BackendBuffer& buffer, std::uint64_t offset, std::uint64_t bytes) override;

 private:
  struct Features;
  static DeviceProperties describe(const vk::raii::PhysicalDevice& physical, Features& features);

  std::shared_ptr<Instance> instance_;
  vk::raii::PhysicalDevice physical_;
  std::unique_ptr<Features> features_;
  vk::raii::Device device_ = nullptr;
  std::uint32_t compute_family_ = 0;
  std::uint32_t transfer_family_ = 0;
  vk::Queue compute_queue_;
  vk::Queue transfer_queue_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<Pipelines> pipelines_;
  std::unique_ptr<Timeline> timeline_;

  std::mutex streams_mutex_;
  std::set<StreamState*> streams_;
  std::mutex garbage_mutex_;
  std::vector<std::pair<std::uint64_t, std::unique_ptr<BackendBuffer>>> garbage_;
};

}  // namespace crossgpu::vulkan
