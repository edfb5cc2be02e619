// Device-memory sub-allocator (VMA is not packaged in Debian; this is the small subset we need).
// One pool of blocks per memory type; each block is one VkDeviceMemory carved by a first-fit free
// list that coalesces on free. Large requests get a dedicated VkDeviceMemory. Host-visible blocks
// stay mapped for their lifetime. Every new VkDeviceMemory is checked against the heap's budget
// first, so running out is a clear Errc::out_of_memory, not a driver failure deep in a call.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "device/buffer.hpp"
#include "device/properties.hpp"
#include "device/vulkan/vk.hpp"

namespace crossgpu::vulkan {

class MemoryBlock;

struct Allocation {
  MemoryBlock* block = nullptr;
  vk::DeviceMemory memory;      // the VkDeviceMemory this range lives in
  std::uint64_t offset = 0;     // within `memory`
  std::uint64_t size = 0;
  std::byte* mapped = nullptr;  // host address of `offset`, or nullptr
  bool coherent = true;
};

struct AllocatorStats {
  std::uint64_t blocks = 0;
  std::uint64_t block_bytes = 0;      // VkDeviceMemory held, including free space in blocks
  std::uint64_t allocations = 0;
  std::uint64_t allocated_bytes = 0;  // handed out to buffers
};

class Allocator {
 public:
  Allocator(const vk::raii::PhysicalDevice& physical, const vk::raii::Device& device,
            bool has_memory_budget, std::uint64_t max_allocation);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Throws Error{out_of_memory} naming the amount asked and what is free.
  Allocation allocate(const vk::MemoryRequirements& requirements, MemoryKind kind);
  void free(const Allocation& allocation) noexcept;

  // For non-coherent memory: make host writes visible to the device / device writes to the host.
  void flush(const Allocation& allocation, std::uint64_t offset, std::uint64_t size) const;
  void invalidate(const Allocation& allocation, std::uint64_t offset, std::uint64_t size) const;

  std::vector<MemoryHeap> heaps() const;
  AllocatorStats stats() const;
  bool unified_memory() const noexcept { return unified_memory_; }
  vk::MemoryPropertyFlags type_flags(std::uint32_t type) const noexcept {
    return type < memory_.memoryTypeCount ? memory_.memoryTypes[type].propertyFlags
                                          : vk::MemoryPropertyFlags{};
  }

  static constexpr std::uint64_t default_block_bytes = 64ull << 20;

 private:
  std::vector<std::uint32_t> candidate_types(std::uint32_t type_bits, MemoryKind kind) const;
  Allocation allocate_in_type(std::uint32_t type, std::uint64_t size, std::uint64_t alignment);
  std::unique_ptr<MemoryBlock> new_block(std::uint32_t type, std::uint64_t size);
  void check_budget(std::uint32_t heap, std::uint64_t size) const;
  std::string heap_state_locked(std::uint32_t heap) const;
  vk::MappedMemoryRange atom_range(const Allocation& a, std::uint64_t offset,
                                   std::uint64_t size) const;

  const vk::raii::PhysicalDevice& physical_;
  const vk::raii::Device& device_;
  vk::PhysicalDeviceMemoryProperties memory_;
  bool has_budget_;
  bool unified_memory_ = false;
  std::uint64_t max_allocation_;
  std::uint64_t non_coherent_atom_ = 1;
  mutable std::mutex mutex_;
  std::vector<std::vector<std::unique_ptr<MemoryBlock>>> pools_;  // per memory type
  std::vector<std::uint64_t> heap_used_;                          // VkDeviceMemory bytes per heap
  std::uint64_t allocations_ = 0;
  std::uint64_t allocated_bytes_ = 0;
};

}  // namespace crossgpu::vulkan
