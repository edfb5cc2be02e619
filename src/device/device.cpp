#include "device/device.hpp"

#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace crossgpu {

namespace {

// offset + bytes <= size without overflow.
bool range_fits(std::uint64_t offset, std::uint64_t bytes, std::uint64_t size) {
  return offset <= size && bytes <= size - offset;
}

}  // namespace

Device::~Device() = default;

void Device::do_release(std::unique_ptr<BackendBuffer> buffer) noexcept { buffer.reset(); }

DeviceProperties Device::refreshed_properties() {
  DeviceProperties props = props_;
  props.heaps = do_query_heaps();
  return props;
}

MemoryUsage Device::usage() const {
  std::lock_guard lock(mutex_);
  return {allocations_.size(), allocated_bytes_};
}

Buffer Device::allocate(std::uint64_t bytes, MemoryKind kind) {
  if (bytes == 0) fail(Errc::invalid_argument, "cannot allocate 0 bytes on {}", props_.name);
  if (bytes > props_.limits.max_allocation_bytes) {
    std::uint64_t free_bytes = 0;
    for (const MemoryHeap& heap : do_query_heaps()) {
      if (heap.device_local) free_bytes = std::max(free_bytes, heap.free_bytes);
    }
    fail(Errc::out_of_memory,
         "allocation of {} on {} exceeds the device's largest single allocation ({}; {} free); "
         "split the data into several buffers",
         format_bytes(bytes), props_.name, format_bytes(props_.limits.max_allocation_bytes),
         format_bytes(free_bytes));
  }
  std::unique_ptr<BackendBuffer> backend = do_allocate(bytes, kind);
  std::lock_guard lock(mutex_);
  const std::uint64_t handle = next_handle_++;
  allocations_.emplace(handle, Allocation{std::move(backend), bytes, kind});
  allocated_bytes_ += bytes;
  return Buffer(shared_from_this(), handle, bytes);
}

void Device::free(std::uint64_t handle) noexcept {
  std::unique_ptr<BackendBuffer> backend;
  {
    std::lock_guard lock(mutex_);
    auto it = allocations_.find(handle);
    if (it == allocations_.end()) return;
    allocated_bytes_ -= it->second.bytes;
    backend = std::move(it->second.backend);
    allocations_.erase(it);
  }
  do_release(std::move(backend));
}

BackendBuffer& Device::resolve(BufferRef ref, std::uint64_t offset, std::uint64_t bytes,
                               const char* what) const {
  if (ref.device == nullptr || ref.handle == 0) {
    fail(Errc::freed_handle, "{}: the buffer is empty (moved from, reset or never allocated)",
         what);
  }
  if (ref.device != this) {
    fail(Errc::wrong_device, "{}: the buffer belongs to device '{}' ({}), not to '{}' ({})", what,
         ref.device->props_.name, ref.device->props_.id, props_.name, props_.id);
  }
  std::lock_guard lock(mutex_);
  auto it = allocations_.find(ref.handle);
  if (it == allocations_.end()) {
    fail(Errc::freed_handle, "{}: buffer handle {} on '{}' was freed", what, ref.handle,
         props_.name);
  }
  if (!range_fits(offset, bytes, it->second.bytes)) {
    fail(Errc::out_of_range, "{}: range [{}, {}+{}) lies outside the buffer of {} bytes", what,
         offset, offset, bytes, it->second.bytes);
  }
  return *it->second.backend;
}

std::span<std::byte> Device::try_mapped(BufferRef ref) const {
  std::byte* host = resolve(ref, 0, 0, "map").host_pointer();
  return host ? std::span<std::byte>(host, ref.size) : std::span<std::byte>();
}

std::span<std::byte> Device::mapped(BufferRef ref) const {
  std::span<std::byte> view = try_mapped(ref);
  if (view.empty()) {
    fail(Errc::unsupported,
         "buffer of {} on '{}' is not host-visible; allocate it with MemoryKind::host_visible or "
         "use Stream::upload/download",
         format_bytes(ref.size), props_.name);
  }
  return view;
}

void Device::flush_mapped(BufferRef ref, std::uint64_t offset, std::uint64_t bytes) {
  do_flush_mapped(resolve(ref, offset, bytes, "flush"), offset, bytes);
}

void Device::invalidate_mapped(BufferRef ref, std::uint64_t offset, std::uint64_t bytes) {
  do_invalidate_mapped(resolve(ref, offset, bytes, "invalidate"), offset, bytes);
}

Stream& Device::stream() {
  std::lock_guard lock(mutex_);
  if (!default_stream_) default_stream_ = do_create_stream();
  return *default_stream_;
}

std::unique_ptr<Stream> Device::create_stream() { return do_create_stream(); }

void Device::synchronize() { stream().synchronize(); }

void Device::release_default_stream() noexcept {
  std::unique_ptr<Stream> stream;
  {
    std::lock_guard lock(mutex_);
    stream = std::move(default_stream_);
  }
}

// --- Stream: validation in front of the backend hooks ---

namespace {

// The recording of a backend without native recording: the dispatches as they were resolved.
class DispatchList final : public RecordedWork {
 public:
  struct Entry {
    const KernelSpec* kernel;
    std::vector<ResolvedRange> bindings;
    std::vector<std::byte> push;
    Groups groups;
  };
  void add(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
           std::span<const std::byte> push, Groups groups) override {
    entries_.push_back({&kernel, {bindings.begin(), bindings.end()}, {push.begin(), push.end()}, groups});
    ++dispatches_;
  }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

}  // namespace

void Stream::refuse_while_recording(const char* what) const {
  if (recording_) {
    fail(Errc::invalid_argument, "{} during a recording: only kernel dispatches can be recorded", what);
  }
}

void Stream::begin_recording() {
  if (recording_) fail(Errc::invalid_argument, "begin_recording: the stream is already recording");
  recording_ = do_begin_recording();
}

Recording Stream::end_recording() {
  if (!recording_) fail(Errc::invalid_argument, "end_recording without begin_recording");
  std::unique_ptr<RecordedWork> work = std::move(recording_);
  work->finish();
  return Recording(std::move(work), this);
}

Event Stream::replay(const Recording& recording) {
  refuse_while_recording("replay");
  if (!recording.valid()) fail(Errc::invalid_argument, "replay of an empty recording");
  if (recording.stream_ != this) {
    fail(Errc::invalid_argument, "replay: the recording was made on another stream");
  }
  return do_replay(*recording.work_);
}

std::unique_ptr<RecordedWork> Stream::do_begin_recording() { return std::make_unique<DispatchList>(); }

Event Stream::do_replay(RecordedWork& work) {
  Event last;
  for (const DispatchList::Entry& e : static_cast<DispatchList&>(work).entries()) {
    last = do_dispatch(*e.kernel, e.bindings, e.push, e.groups);
  }
  return last;
}

Event Stream::upload(BufferRef dst, std::uint64_t dst_offset, std::span<const std::byte> src) {
  refuse_while_recording("upload");
  BackendBuffer& buffer = device().resolve(dst, dst_offset, src.size(), "upload");
  if (src.empty()) return {};
  if (src.data() == nullptr) fail(Errc::invalid_argument, "upload: source pointer is null");
  return do_upload(buffer, dst_offset, src);
}

Event Stream::download(BufferRef src, std::uint64_t src_offset, std::span<std::byte> dst) {
  refuse_while_recording("download");
  BackendBuffer& buffer = device().resolve(src, src_offset, dst.size(), "download");
  if (dst.empty()) return {};
  if (dst.data() == nullptr) fail(Errc::invalid_argument, "download: destination pointer is null");
  return do_download(buffer, src_offset, dst);
}

Event Stream::copy(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                   std::uint64_t dst_offset, std::uint64_t bytes) {
  refuse_while_recording("copy");
  BackendBuffer& from = device().resolve(src, src_offset, bytes, "copy source");
  BackendBuffer& to = device().resolve(dst, dst_offset, bytes, "copy destination");
  if (bytes == 0) return {};
  if (src.handle == dst.handle) {
    const bool disjoint = src_offset + bytes <= dst_offset || dst_offset + bytes <= src_offset;
    if (!disjoint) {
      fail(Errc::invalid_argument, "copy: source and destination ranges overlap in one buffer");
    }
  }
  return do_copy(from, src_offset, to, dst_offset, bytes);
}

Event Stream::dispatch(const KernelSpec& kernel, std::span<const BufferRange> bindings,
                       std::span<const std::byte> push, Groups groups) {
  const DeviceLimits& limits = device().properties().limits;
  if (bindings.size() != kernel.binding_count) {
    fail(Errc::invalid_argument, "kernel '{}' takes {} buffers, {} were given", kernel.name,
         kernel.binding_count, bindings.size());
  }
  if (push.size() != kernel.push_constant_bytes) {
    fail(Errc::invalid_argument, "kernel '{}' takes {} bytes of parameters, {} were given",
         kernel.name, kernel.push_constant_bytes, push.size());
  }
  if (groups.x == 0 || groups.y == 0 || groups.z == 0) return {};
  if (groups.y > limits.max_workgroup_count[1] || groups.z > limits.max_workgroup_count[2]) {
    fail(Errc::out_of_range, "kernel '{}': {}x{} workgroups in y/z exceed the device limit {}x{}",
         kernel.name, groups.y, groups.z, limits.max_workgroup_count[1],
         limits.max_workgroup_count[2]);
  }
  std::vector<ResolvedRange> resolved;
  resolved.reserve(bindings.size());
  for (const BufferRange& binding : bindings) {
    std::uint64_t bytes = binding.bytes;
    if (bytes == BufferRange::whole) {
      bytes = binding.offset <= binding.buffer.size ? binding.buffer.size - binding.offset : 0;
    }
    BackendBuffer& buffer = device().resolve(binding.buffer, binding.offset, bytes, "dispatch");
    if (binding.offset % limits.min_storage_buffer_offset_alignment != 0) {
      fail(Errc::misaligned,
           "kernel '{}': binding offset {} is not a multiple of the device's storage-buffer "
           "offset alignment {}",
           kernel.name, binding.offset, limits.min_storage_buffer_offset_alignment);
    }
    if (bytes > limits.max_storage_buffer_range) {
      fail(Errc::out_of_range,
           "kernel '{}': a binding of {} exceeds the device's storage-buffer range {}; the op "
           "must split its work",
           kernel.name, format_bytes(bytes), format_bytes(limits.max_storage_buffer_range));
    }
    if (bytes == 0) fail(Errc::out_of_range, "kernel '{}': a binding is empty", kernel.name);
    resolved.push_back({&buffer, binding.offset, bytes});
  }
  if (recording_) {
    recording_->add(kernel, resolved, push, groups);
    return {};
  }
  return do_dispatch(kernel, resolved, push, groups);
}

void Stream::flush() { do_flush(); }
void Stream::synchronize() {
  refuse_while_recording("synchronize");
  do_synchronize();
}

// --- copies across devices ---

namespace {

// Both ends of a copy between devices, validated.
std::pair<Device&, Device&> copy_ends(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                                      std::uint64_t dst_offset, std::uint64_t bytes) {
  if (src.device == nullptr || dst.device == nullptr) {
    fail(Errc::freed_handle, "copy between devices: a buffer is empty");
  }
  src.device->resolve(src, src_offset, bytes, "copy source");
  dst.device->resolve(dst, dst_offset, bytes, "copy destination");
  return {*src.device, *dst.device};
}

}  // namespace

void copy_between_devices(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                          std::uint64_t dst_offset, std::uint64_t bytes) {
  auto [from, to] = copy_ends(src, src_offset, dst, dst_offset, bytes);
  if (&from == &to) {
    from.stream().copy(src, src_offset, dst, dst_offset, bytes).wait();
    return;
  }
  if (bytes == 0) return;
  if (std::span<std::byte> target = to.try_mapped(dst); !target.empty()) {
    to.synchronize();  // nothing queued on `to` may touch the range we write
    from.stream().download(src, src_offset, target.subspan(dst_offset, bytes)).wait();
    to.flush_mapped(dst, dst_offset, bytes);
    return;
  }
  if (std::span<std::byte> source = from.try_mapped(src); !source.empty()) {
    from.synchronize();
    from.invalidate_mapped(src, src_offset, bytes);
    to.stream().upload(dst, dst_offset, source.subspan(src_offset, bytes)).wait();
    return;
  }
  copy_between_devices_chunked(src, src_offset, dst, dst_offset, bytes);
}

void copy_between_devices_chunked(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                                  std::uint64_t dst_offset, std::uint64_t bytes) {
  auto [from, to] = copy_ends(src, src_offset, dst, dst_offset, bytes);
  if (bytes == 0) return;
  // Two pinned chunks on the source device: a device copy (DMA at the bus rate) fills one while
  // the other is uploaded to `to`.
  constexpr std::uint64_t chunk = 16ull << 20;
  Buffer pinned[2] = {from.allocate(std::min(bytes, chunk), MemoryKind::host_visible),
                      from.allocate(std::min(bytes, chunk), MemoryKind::host_visible)};
  Event uploads[2];
  for (std::uint64_t done = 0, i = 0; done < bytes; done += chunk, ++i) {
    const std::uint64_t n = std::min(chunk, bytes - done);
    Buffer& staging = pinned[i % 2];
    uploads[i % 2].wait();  // this chunk's previous upload has read it
    from.stream().copy(src, src_offset + done, staging, 0, n).wait();
    from.invalidate_mapped(staging, 0, n);
    uploads[i % 2] = to.stream().upload(dst, dst_offset + done, staging.mapped().first(n));
    to.stream().flush();
  }
  uploads[0].wait();
  uploads[1].wait();
}

// --- Event ---

std::chrono::nanoseconds Event::default_timeout() {
  static const std::chrono::nanoseconds timeout = [] {
    const char* text = std::getenv("CROSSGPU_WAIT_TIMEOUT_S");
    const long seconds = text ? std::strtol(text, nullptr, 10) : 0;
    return std::chrono::nanoseconds(std::chrono::seconds(seconds > 0 ? seconds : 60));
  }();
  return timeout;
}

// --- Buffer ---

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = std::move(other.device_);
    handle_ = std::exchange(other.handle_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void Buffer::reset() noexcept {
  if (device_ && handle_ != 0) device_->free(handle_);
  device_.reset();
  handle_ = 0;
  size_ = 0;
}

Device& Buffer::device() const {
  if (!device_) fail(Errc::freed_handle, "the buffer is empty (moved from or reset)");
  return *device_;
}

std::span<std::byte> Buffer::mapped() const { return device().mapped(ref()); }

}  // namespace crossgpu
