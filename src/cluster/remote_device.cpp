#include "cluster/remote_device.hpp"

#include <algorithm>
#include <atomic>
#include <vector>

#include "cluster/peer_links.hpp"
#include "cluster/protocol.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "device/recording.hpp"
#include "crossgpu/v1/node.pb.h"

namespace crossgpu::cluster {
namespace {

// A buffer on the node: only its handle lives here. Destroying it frees the node's memory.
class RemoteBuffer final : public BackendBuffer {
 public:
  RemoteBuffer(std::shared_ptr<NodeConnection> node, std::uint64_t handle)
      : node_(std::move(node)), handle_(handle) {}
  ~RemoteBuffer() override {
    // A lost or closed connection's session is over: the node freed the buffer with it.
    if (node_->lost() || node_->closed()) return;
    try {
      node_->free(handle_);
    } catch (const Error& e) {
      log::warn("freeing buffer {} on node {}: {}", handle_, node_->address(), e.what());
    }
  }
  std::byte* host_pointer() noexcept override { return nullptr; }
  std::uint64_t handle() const noexcept { return handle_; }

 private:
  std::shared_ptr<NodeConnection> node_;
  std::uint64_t handle_;
};

std::uint64_t handle_of(BackendBuffer& buffer) {
  return static_cast<RemoteBuffer&>(buffer).handle();
}

std::vector<RemoteRange> remote_ranges(std::span<const ResolvedRange> bindings) {
  std::vector<RemoteRange> ranges;
  ranges.reserve(bindings.size());
  for (const ResolvedRange& b : bindings) ranges.push_back({handle_of(*b.buffer), b.offset, b.bytes});
  return ranges;
}

// A recording of a remote stream: the dispatches collected here, then sent once (Record) and
// kept by the node as a program of the session, natively recorded there. A replay is one queued
// command of the next Run.
class RemoteRecordedWork final : public RecordedWork {
 public:
  explicit RemoteRecordedWork(std::shared_ptr<NodeConnection> node) : node_(std::move(node)) {}
  ~RemoteRecordedWork() override {
    if (program_ == 0 || node_->lost() || node_->closed()) return;  // the session took it along
    try {
      node_->release_program(program_);
    } catch (const Error& e) {
      log::warn("releasing program {} on node {}: {}", program_, node_->address(), e.what());
    }
  }
  void add(const KernelSpec& kernel, std::span<const ResolvedRange> bindings, std::span<const std::byte> push,
           Groups groups) override {
    dispatches_list_.push_back(
        RemoteDispatch{std::string(kernel.name), remote_ranges(bindings), std::vector<std::byte>(push.begin(), push.end()), groups});
    ++dispatches_;
  }
  void finish() override {
    if (dispatches_list_.empty()) return;  // an empty recording replays as nothing
    program_ = node_->record(dispatches_list_);
    dispatches_list_.clear();
  }
  std::uint64_t program() const noexcept { return program_; }

 private:
  std::shared_ptr<NodeConnection> node_;
  std::vector<RemoteDispatch> dispatches_list_;
  std::uint64_t program_ = 0;
};

// Remote work runs on the node in the order it was sent. Small uploads, dispatches and replays
// are queued in the connection's batch (NodeConnection::queue_*) and reach the node as one Run
// together with the next small download, flush or synchronize, or before any other call: their
// events are complete on this side at once, and a node's refusal of one surfaces from the call
// that sends the batch. Large transfers go over the data channel, after the batch.
class RemoteStream final : public Stream {
 public:
  RemoteStream(Device& device, std::shared_ptr<NodeConnection> node) : Stream(device), node_(std::move(node)) {}

 protected:
  Event do_upload(BackendBuffer& dst, std::uint64_t offset,
                  std::span<const std::byte> src) override {
    if (src.size() <= kMaxQueuedWriteBytes) {
      node_->queue_write(handle_of(dst), offset, src);
    } else {
      node_->write(handle_of(dst), offset, src);
    }
    return {};
  }
  Event do_download(BackendBuffer& src, std::uint64_t offset, std::span<std::byte> dst) override {
    if (dst.size() <= kMaxRunInlineBytes) {
      node_->run_read(handle_of(src), offset, dst);
    } else {
      node_->read(handle_of(src), offset, dst);
    }
    return {};
  }
  Event do_copy(BackendBuffer& src, std::uint64_t src_offset, BackendBuffer& dst,
                std::uint64_t dst_offset, std::uint64_t bytes) override {
    node_->copy(handle_of(src), src_offset, handle_of(dst), dst_offset, bytes);
    copies_unsynchronized_ = true;
    return {};
  }
  Event do_dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                    std::span<const std::byte> push, Groups groups) override {
    node_->queue_dispatch(kernel.name, remote_ranges(bindings), push, groups);
    return {};
  }
  std::unique_ptr<RecordedWork> do_begin_recording() override {
    return std::make_unique<RemoteRecordedWork>(node_);
  }
  Event do_replay(RecordedWork& work) override {
    const std::uint64_t program = static_cast<RemoteRecordedWork&>(work).program();
    if (program != 0) node_->queue_replay(program);
    return {};
  }
  void do_flush() override { node_->flush(); }
  // A Run returns when its work is done, so sending the batch synchronizes it; only a Copy (the
  // one call the node queues without waiting) needs a Synchronize call after it.
  void do_synchronize() override {
    node_->flush();
    if (!copies_unsynchronized_) return;
    node_->synchronize(static_cast<const RemoteDevice&>(device()).remote_id());
    copies_unsynchronized_ = false;
  }

 private:
  // Larger uploads (weights) take the data channel: a Run carries at most kMaxRunInlineBytes.
  static constexpr std::uint64_t kMaxQueuedWriteBytes = 256ull << 10;
  std::shared_ptr<NodeConnection> node_;
  bool copies_unsynchronized_ = false;
};

}  // namespace

namespace {
DeviceProperties cluster_wide(DeviceProperties props, const NodeConnection& node) {
  props.id = node.node_id() + "/" + props.id;
  return props;
}
}  // namespace

RemoteDevice::RemoteDevice(std::shared_ptr<NodeConnection> node, DeviceProperties props)
    : Device(cluster_wide(props, *node)), node_(std::move(node)), remote_id_(std::move(props.id)) {}

RemoteDevice::~RemoteDevice() { release_default_stream(); }

std::uint64_t RemoteDevice::remote_handle(BufferRef ref, std::uint64_t offset,
                                          std::uint64_t bytes) const {
  return handle_of(resolve(ref, offset, bytes, "remote buffer"));
}

bool RemoteDevice::fill_from_cache(BufferRef ref, std::uint64_t offset, std::uint64_t bytes,
                                   const BlobHash& sha256) {
  return node_->fill_from_cache(remote_handle(ref, offset, bytes), offset, bytes, sha256);
}

bool RemoteDevice::store_to_cache(BufferRef ref, std::uint64_t offset, std::uint64_t bytes,
                                  const BlobHash& sha256) {
  return node_->store_to_cache(remote_handle(ref, offset, bytes), offset, bytes, sha256);
}

std::unique_ptr<BackendBuffer> RemoteDevice::do_allocate(std::uint64_t bytes, MemoryKind kind) {
  const std::uint64_t handle = node_->allocate(remote_id_, bytes, kind == MemoryKind::host_visible);
  return std::make_unique<RemoteBuffer>(node_, handle);
}

std::unique_ptr<Stream> RemoteDevice::do_create_stream() {
  return std::make_unique<RemoteStream>(*this, node_);
}

std::vector<MemoryHeap> RemoteDevice::do_query_heaps() {
  for (const DeviceProperties& props : node_->list_devices()) {
    if (props.id == remote_id_) return props.heaps;
  }
  fail(Errc::device_lost, "node {} no longer lists device {}", node_->address(), remote_id_);
}

// Relays [src_offset, +bytes) through this process, a piece at a time.
void relay_between_nodes(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                         std::uint64_t dst_offset, std::uint64_t bytes) {
  constexpr std::uint64_t kPieceBytes = 16ull << 20;
  std::vector<std::byte> piece(std::min(bytes, kPieceBytes));
  for (std::uint64_t done = 0; done < bytes;) {
    const std::uint64_t n = std::min<std::uint64_t>(piece.size(), bytes - done);
    const std::span<std::byte> part(piece.data(), n);
    src.device->stream().download(src, src_offset + done, part).wait();
    dst.device->stream().upload(dst, dst_offset + done, std::span<const std::byte>(part)).wait();
    done += n;
  }
}

void copy_between_nodes(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                        std::uint64_t dst_offset, std::uint64_t bytes) {
  auto* from = dynamic_cast<RemoteDevice*>(src.device);
  auto* to = dynamic_cast<RemoteDevice*>(dst.device);
  if (from == nullptr || to == nullptr) {
    fail(Errc::invalid_argument,
         "copy_between_nodes: both buffers must be on remote devices; use "
         "copy_between_devices for local ones");
  }
  const std::uint64_t src_handle = from->remote_handle(src, src_offset, bytes);
  const std::uint64_t dst_handle = to->remote_handle(dst, dst_offset, bytes);
  if (bytes == 0) return;
  v1::WriteGrant grant =
      to->node().grant_write(dst_handle, dst_offset, bytes, from->node().node_id());
  std::uint64_t copied = 0;
  try {
    copied = from->node().peer_copy(src_handle, src_offset, to->node().address(), grant);
  } catch (const Error& e) {
    if (e.code() != Errc::permission_denied ||
        std::string_view(e.what()).find(kNotAMember) == std::string_view::npos) {
      throw;
    }
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      log::warn("node {} does not watch node {} as a member (start it with --peer {} or "
                "discovery): copies between them go through this client",
                from->node().node_id(), to->node().node_id(), to->node().address());
    }
    relay_between_nodes(src, src_offset, dst, dst_offset, bytes);
    return;
  }
  if (copied != bytes) {
    fail(Errc::io, "copy_between_nodes: {} of {} bytes arrived", copied, bytes);
  }
}

}  // namespace crossgpu::cluster
