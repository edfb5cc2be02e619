// Buffers: device memory owned by a move-only Buffer; BufferRef is a non-owning handle (what
// crosses APIs and, later, the wire). A BufferRef whose buffer was freed is detected, not trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace crossgpu {

class Device;

enum class MemoryKind {
  device_local,  // fastest for kernels; host-visible too on UMA devices and lavapipe
  host_visible,  // mappable by the host (staging, pinned host buffers); kernels may use it, slowly
};

// Non-owning reference to a buffer: {device, handle, size}. Cheap to copy. Handles are never
// reused, so a stale reference fails with Errc::freed_handle instead of touching other memory.
struct BufferRef {
  Device* device = nullptr;
  std::uint64_t handle = 0;
  std::uint64_t size = 0;
};

class Buffer {
 public:
  Buffer() = default;
  Buffer(std::shared_ptr<Device> device, std::uint64_t handle, std::uint64_t size) noexcept
      : device_(std::move(device)), handle_(handle), size_(size) {}
  ~Buffer() { reset(); }
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Frees the memory now (after pending work on it completes). Safe to call twice.
  void reset() noexcept;

  bool valid() const noexcept { return handle_ != 0; }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t handle() const noexcept { return handle_; }
  Device& device() const;
  BufferRef ref() const noexcept { return {device_.get(), handle_, size_}; }
  operator BufferRef() const noexcept { return ref(); }  // NOLINT: a Buffer is usable where a ref is

  // The host view of a host-visible buffer (persistently mapped). Throws Errc::unsupported when
  // the memory cannot be mapped. The caller synchronizes: no queued work may use the buffer while
  // the host touches it, and on non-coherent memory Device::flush_mapped / invalidate_mapped
  // publish host writes and fetch device writes.
  std::span<std::byte> mapped() const;

 private:
  std::shared_ptr<Device> device_;
  std::uint64_t handle_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace crossgpu
