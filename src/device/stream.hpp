// A stream is an in-order queue of work on one device: uploads, downloads, copies and kernel
// dispatches. Work may be batched and submitted lazily; every call returns an Event, and
// Event::wait() / synchronize() make it happen. One stream is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "device/buffer.hpp"
#include "device/event.hpp"
#include "device/kernel.hpp"
#include "device/recording.hpp"

namespace crossgpu {

class BackendBuffer;

// A binding of a kernel: a byte range of a buffer. bytes == whole means "to the end".
struct BufferRange {
  static constexpr std::uint64_t whole = ~std::uint64_t{0};
  BufferRef buffer;
  std::uint64_t offset = 0;
  std::uint64_t bytes = whole;
};

// A binding after validation: what backends receive.
struct ResolvedRange {
  BackendBuffer* buffer = nullptr;
  std::uint64_t offset = 0;
  std::uint64_t bytes = 0;
};

class Stream {
 public:
  explicit Stream(Device& device) : device_(device) {}
  virtual ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  Device& device() const noexcept { return device_; }

  // Host -> device. `src` is read before upload() returns or before the event completes; keep it
  // alive and unchanged until the event is complete.
  Event upload(BufferRef dst, std::uint64_t dst_offset, std::span<const std::byte> src);
  // Device -> host. `dst` holds the data once the returned event (or synchronize) completes.
  Event download(BufferRef src, std::uint64_t src_offset, std::span<std::byte> dst);
  // Device -> device on this stream's device.
  Event copy(BufferRef src, std::uint64_t src_offset, BufferRef dst, std::uint64_t dst_offset,
             std::uint64_t bytes);
  Event dispatch(const KernelSpec& kernel, std::span<const BufferRange> bindings,
                 std::span<const std::byte> push, Groups groups);

  // Dispatches from here to end_recording() are captured into a Recording instead of run
  // (device/recording.hpp). Errc::invalid_argument when already recording.
  void begin_recording();
  Recording end_recording();
  bool recording() const noexcept { return recording_ != nullptr; }
  // Runs a recording of this stream, in order with the stream's other work.
  Event replay(const Recording& recording);

  // Submits recorded work without waiting.
  void flush();
  // Waits for all work of this stream and completes pending host-side copies.
  void synchronize();

  template <typename T>
  Event upload(BufferRef dst, std::span<const T> src, std::uint64_t dst_offset = 0) {
    return upload(dst, dst_offset, std::as_bytes(src));
  }
  template <typename T>
  Event download(BufferRef src, std::span<T> dst, std::uint64_t src_offset = 0) {
    return download(src, src_offset, std::as_writable_bytes(dst));
  }

 protected:
  virtual Event do_upload(BackendBuffer& dst, std::uint64_t dst_offset,
                          std::span<const std::byte> src) = 0;
  virtual Event do_download(BackendBuffer& src, std::uint64_t src_offset,
                            std::span<std::byte> dst) = 0;
  virtual Event do_copy(BackendBuffer& src, std::uint64_t src_offset, BackendBuffer& dst,
                        std::uint64_t dst_offset, std::uint64_t bytes) = 0;
  virtual Event do_dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                            std::span<const std::byte> push, Groups groups) = 0;
  virtual void do_flush() = 0;
  virtual void do_synchronize() = 0;
  // A backend that records natively returns its own RecordedWork and replays it; the default
  // captures the dispatches and replays them through do_dispatch.
  virtual std::unique_ptr<RecordedWork> do_begin_recording();
  virtual Event do_replay(RecordedWork& work);

 private:
  void refuse_while_recording(const char* what) const;

  Device& device_;
  std::unique_ptr<RecordedWork> recording_;
};

}  // namespace crossgpu
