// A device: properties, memory, streams. Backends (cpu/, vulkan/) derive from Device and Stream
// and implement the do_* hooks; everything a caller passes in is validated here, once, for all
// backends (ownership, liveness, bounds, limits).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "device/buffer.hpp"
#include "device/properties.hpp"
#include "device/stream.hpp"

namespace crossgpu {

// Backend-owned memory behind one Buffer. Destroying it frees the memory.
class BackendBuffer {
 public:
  virtual ~BackendBuffer() = default;
  // Host pointer of a mapped buffer, or nullptr when the memory is not host-visible.
  virtual std::byte* host_pointer() noexcept = 0;
};

struct MemoryUsage {
  std::uint64_t live_buffers = 0;
  std::uint64_t allocated_bytes = 0;  // by crossgpu on this device, as requested by callers
};

class Device : public std::enable_shared_from_this<Device> {
 public:
  virtual ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceProperties& properties() const noexcept { return props_; }
  const std::string& id() const noexcept { return props_.id; }

  // Properties with memory heaps refreshed (free bytes and budget change over time).
  DeviceProperties refreshed_properties();
  MemoryUsage usage() const;

  // Allocates `bytes` (> 0). Throws Errc::invalid_argument for 0, Errc::out_of_memory with the
  // amount asked and free when the device cannot satisfy it (including > max allocation size).
  Buffer allocate(std::uint64_t bytes, MemoryKind kind = MemoryKind::device_local);

  // The default stream, created on first use.
  Stream& stream();
  std::unique_ptr<Stream> create_stream();
  void synchronize();  // the default stream

  // Validation shared by every entry point: the buffer must belong to this device and be live,
  // and [offset, offset+bytes) must lie inside it. Returns the backend object.
  BackendBuffer& resolve(BufferRef ref, std::uint64_t offset, std::uint64_t bytes,
                         const char* what) const;
  std::span<std::byte> mapped(BufferRef ref) const;
  // Like mapped(), but an empty span when the buffer is not host-visible.
  std::span<std::byte> try_mapped(BufferRef ref) const;
  // For host access through mapped() on memory that may not be coherent: flush after writing,
  // invalidate before reading what the device wrote. No-ops where memory is coherent.
  void flush_mapped(BufferRef ref, std::uint64_t offset, std::uint64_t bytes);
  void invalidate_mapped(BufferRef ref, std::uint64_t offset, std::uint64_t bytes);
  void free(std::uint64_t handle) noexcept;  // Buffer's destructor

 protected:
  explicit Device(DeviceProperties props) : props_(std::move(props)) {}

  virtual std::unique_ptr<BackendBuffer> do_allocate(std::uint64_t bytes, MemoryKind kind) = 0;
  // Called when a buffer is freed; the backend may defer destruction until pending work that
  // uses it completes. The default destroys it at once.
  virtual void do_release(std::unique_ptr<BackendBuffer> buffer) noexcept;
  virtual std::unique_ptr<Stream> do_create_stream() = 0;
  virtual std::vector<MemoryHeap> do_query_heaps() = 0;
  virtual void do_flush_mapped(BackendBuffer&, std::uint64_t, std::uint64_t) {}
  virtual void do_invalidate_mapped(BackendBuffer&, std::uint64_t, std::uint64_t) {}
  // Destroys the default stream; backends call it first in their destructor, while the objects
  // the stream uses still exist.
  void release_default_stream() noexcept;

  DeviceProperties props_;

 private:
  struct Allocation {
    std::unique_ptr<BackendBuffer> backend;
    std::uint64_t bytes = 0;
    MemoryKind kind = MemoryKind::device_local;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, Allocation> allocations_;
  std::uint64_t next_handle_ = 1;
  std::uint64_t allocated_bytes_ = 0;
  std::unique_ptr<Stream> default_stream_;
};

// Copies between buffers of any two devices of this process and waits for completion. On one
// device: a device copy. Across devices: straight into (or out of) the other side's mapping when
// one buffer is host-visible, else through pinned chunks on the source device.
void copy_between_devices(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                          std::uint64_t dst_offset, std::uint64_t bytes);
// The general path of copy_between_devices (neither side mapped), callable directly so that it is
// tested on machines where every buffer happens to be host-visible.
void copy_between_devices_chunked(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                                  std::uint64_t dst_offset, std::uint64_t bytes);

}  // namespace crossgpu
