#include "device/vulkan/staging_ring.hpp"

namespace crossgpu::vulkan {

StagingRing::StagingRing(VulkanDevice& device, std::uint64_t capacity)
    : buffer_(device.vk_device(), device.allocator(), capacity, MemoryKind::host_visible),
      capacity_(capacity) {
  if (buffer_.host_pointer() == nullptr) {
    fail(Errc::unsupported, "'{}' has no host-visible memory for staging", device.properties().name);
  }
}

std::optional<StagingRing::Slice> StagingRing::try_take(std::uint64_t bytes, std::uint64_t batch) {
  if (bytes > capacity_) return std::nullopt;
  if (used_.empty()) head_ = 0;
  const std::uint64_t tail = used_.empty() ? 0 : used_.front().begin;
  const std::uint64_t aligned = (head_ + alignment - 1) / alignment * alignment;
  // Free space is [head, capacity) + [0, tail) while the used regions have not wrapped past the
  // end, and [head, tail) once they have.
  const bool wrapped = !used_.empty() && head_ <= tail;
  std::optional<std::uint64_t> begin;
  if (!wrapped) {
    if (aligned + bytes <= capacity_) {
      begin = aligned;
    } else if (bytes <= tail || used_.empty()) {
      begin = 0;
    }
  } else if (aligned + bytes <= tail) {
    begin = aligned;
  }
  if (!begin) return std::nullopt;
  used_.push_back({*begin, *begin + bytes, batch});
  head_ = *begin + bytes;
  return Slice{*begin, buffer_.host_pointer() + *begin};
}

void StagingRing::release_through(std::uint64_t batch) {
  while (!used_.empty() && used_.front().batch <= batch) used_.pop_front();
}

}  // namespace crossgpu::vulkan
