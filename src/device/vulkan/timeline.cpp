#include "device/vulkan/timeline.hpp"

namespace crossgpu::vulkan {

Timeline::Timeline(const vk::raii::Device& device, vk::Queue queue, bool use_semaphore)
    : device_(device), queue_(queue), use_semaphore_(use_semaphore) {
  if (use_semaphore_) {
    vk::SemaphoreTypeCreateInfo type{.semaphoreType = vk::SemaphoreType::eTimeline, .initialValue = 0};
    semaphore_ = vk::raii::Semaphore(device_, vk::SemaphoreCreateInfo{.pNext = &type});
  }
}

std::uint64_t Timeline::submit(vk::CommandBuffer commands) {
  std::lock_guard lock(mutex_);
  const std::uint64_t serial = submitted_ + 1;
  guarded("submitting work", [&] {
    if (use_semaphore_) {
      const vk::Semaphore semaphore = *semaphore_;
      vk::TimelineSemaphoreSubmitInfo timeline{.signalSemaphoreValueCount = 1,
                                               .pSignalSemaphoreValues = &serial};
      queue_.submit(vk::SubmitInfo{.pNext = &timeline,
                                   .commandBufferCount = 1,
                                   .pCommandBuffers = &commands,
                                   .signalSemaphoreCount = 1,
                                   .pSignalSemaphores = &semaphore});
    } else {
      vk::raii::Fence fence(device_, vk::FenceCreateInfo{});
      queue_.submit(vk::SubmitInfo{.commandBufferCount = 1, .pCommandBuffers = &commands}, *fence);
      fences_.emplace_back(serial, std::move(fence));
    }
  });
  submitted_ = serial;
  return serial;
}

std::uint64_t Timeline::last_submitted() const {
  std::lock_guard lock(mutex_);
  return submitted_;
}

void Timeline::reap_fences_locked() {
  while (!fences_.empty() && fences_.front().second.getStatus() == vk::Result::eSuccess) {
    completed_ = fences_.front().first;
    fences_.pop_front();
  }
}

bool Timeline::completed(std::uint64_t serial) {
  std::lock_guard lock(mutex_);
  if (serial <= completed_) return true;
  guarded("polling the timeline", [&] {
    if (use_semaphore_) {
      completed_ = semaphore_.getCounterValue();
    } else {
      reap_fences_locked();
    }
  });
  return serial <= completed_;
}

void Timeline::wait(std::uint64_t serial, std::chrono::nanoseconds timeout) {
  // Small transfers and short kernels finish within microseconds; a blocking wait costs a
  // sleep/wake round trip in the driver on top. Poll the counter briefly first.
  const auto spin_until = std::chrono::steady_clock::now() + spin_before_blocking;
  do {
    if (completed(serial)) return;
  } while (std::chrono::steady_clock::now() < spin_until);
  const auto ns = static_cast<std::uint64_t>(timeout.count());
  vk::Result result;
  if (use_semaphore_) {
    const vk::Semaphore semaphore = *semaphore_;
    result = guarded("waiting for the device", [&] {
      return device_.waitSemaphores(
          vk::SemaphoreWaitInfo{.semaphoreCount = 1, .pSemaphores = &semaphore, .pValues = &serial}, ns);
    });
  } else {
    // Fence mode waits under the lock: reaping destroys fences, so none may vanish mid-wait.
    std::lock_guard lock(mutex_);
    vk::Fence fence;
    for (const auto& [s, f] : fences_) {
      if (s >= serial) {
        fence = *f;
        break;
      }
    }
    if (!fence) return;
    result = guarded("waiting for the device", [&] { return device_.waitForFences(fence, VK_TRUE, ns); });
  }
  if (result == vk::Result::eTimeout) {
    fail(Errc::timeout, "the device did not finish submission {} within {} ms", serial,
         std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  }
  completed(serial);
}

void Timeline::wait_idle() {
  const std::uint64_t last = last_submitted();
  if (last > 0) wait(last, std::chrono::hours(1));
}

}  // namespace crossgpu::vulkan
