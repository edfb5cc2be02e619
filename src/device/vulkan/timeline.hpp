// Submission tracking for one queue: every submit gets a serial; completed(n) and wait(n) answer
// for all submissions up to n. A timeline semaphore where the device has one, else a fence per
// submission (Vulkan 1.1 drivers without VK_KHR_timeline_semaphore exist on older phones).
#pragma once

#include <chrono>
#include <deque>
#include <mutex>

#include "device/vulkan/vk.hpp"

namespace crossgpu::vulkan {

class Timeline {
 public:
  Timeline(const vk::raii::Device& device, vk::Queue queue, bool use_semaphore);

  // Submits one command buffer and returns its serial. Thread-safe (the queue is locked).
  std::uint64_t submit(vk::CommandBuffer commands);
  std::uint64_t last_submitted() const;
  bool completed(std::uint64_t serial);
  // Throws Error{timeout} or Error{device_lost}.
  void wait(std::uint64_t serial, std::chrono::nanoseconds timeout);
  void wait_idle();

  static constexpr std::chrono::microseconds spin_before_blocking{100};

 private:
  void reap_fences_locked();

  const vk::raii::Device& device_;
  vk::Queue queue_;
  bool use_semaphore_;
  vk::raii::Semaphore semaphore_ = nullptr;
  mutable std::mutex mutex_;
  std::uint64_t submitted_ = 0;
  std::uint64_t completed_ = 0;
  std::deque<std::pair<std::uint64_t, vk::raii::Fence>> fences_;  // fence mode only
};

}  // namespace crossgpu::vulkan
