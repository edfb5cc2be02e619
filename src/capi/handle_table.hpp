// Objects behind the C ABI's integer handles. Handles are never reused, so a stale handle is
// recognised (CG_FREED_HANDLE) instead of reaching another object.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "core/error.hpp"

namespace crossgpu::capi {

template <typename T>
class HandleTable {
 public:
  explicit HandleTable(const char* kind) : kind_(kind) {}

  std::uint64_t add(T value) {
    std::lock_guard lock(mutex_);
    const std::uint64_t handle = next_++;
    items_.emplace(handle, std::move(value));
    return handle;
  }

  // A copy: callers keep the object alive (shared_ptr) while they use it, even if another
  // thread frees the handle meanwhile.
  T get(std::uint64_t handle) const {
    std::lock_guard lock(mutex_);
    auto it = items_.find(handle);
    if (it == items_.end()) missing(handle);
    return it->second;
  }

  void remove(std::uint64_t handle) {
    T doomed = take(handle);
    // `doomed` dies here, outside the lock: destroying a device or buffer may wait for the GPU.
  }

  // Removes the handle and hands its object to the caller: exactly one caller gets it, so that
  // one alone shuts it down.
  T take(std::uint64_t handle) {
    std::lock_guard lock(mutex_);
    auto it = items_.find(handle);
    if (it == items_.end()) missing(handle);
    T value = std::move(it->second);
    items_.erase(it);
    return value;
  }

 private:
  [[noreturn]] void missing(std::uint64_t handle) const {
    if (handle == 0) fail(Errc::freed_handle, "{} handle is 0 (null)", kind_);
    fail(Errc::freed_handle, "{} handle {} is not live: it was freed or never created", kind_, handle);
  }

  const char* kind_;
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, T> items_;
  std::uint64_t next_ = 1;
};

}  // namespace crossgpu::capi
