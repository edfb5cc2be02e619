// A persistent host-visible buffer used as a ring for staged uploads and downloads. Regions are
// tagged with the batch that uses them and come back, in order, when that batch retires.
#pragma once

#include <deque>
#include <optional>

#include "device/vulkan/vulkan_device.hpp"

namespace crossgpu::vulkan {

class StagingRing {
 public:
  struct Slice {
    std::uint64_t offset = 0;  // in buffer()
    std::byte* host = nullptr;
  };

  StagingRing(VulkanDevice& device, std::uint64_t capacity);

  // A region of `bytes` for batch `batch`, or nothing when the ring is too full right now.
  std::optional<Slice> try_take(std::uint64_t bytes, std::uint64_t batch);
  // Returns every region of batches <= `batch`.
  void release_through(std::uint64_t batch);

  std::uint64_t capacity() const noexcept { return capacity_; }
  vk::Buffer buffer() const noexcept { return buffer_.get(); }
  const Allocation& allocation() const noexcept { return buffer_.allocation(); }

  static constexpr std::uint64_t alignment = 256;  // >= any optimalBufferCopyOffsetAlignment

 private:
  struct Region {
    std::uint64_t begin, end, batch;
  };
  VulkanBuffer buffer_;
  std::uint64_t capacity_;
  std::uint64_t head_ = 0;
  std::deque<Region> used_;
};

}  // namespace crossgpu::vulkan
