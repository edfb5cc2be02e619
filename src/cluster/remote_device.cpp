#include "cluster/remote_device.hpp"

#include "core/error.hpp"
#include "core/log.hpp"
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

// Remote work runs on the node in the order it was sent; uploads and downloads complete before
// they return, so events are complete and synchronize() waits for queued copies and kernels.
class RemoteStream final : public Stream {
 public:
  RemoteStream(Device& device, NodeConnection& node) : Stream(device), node_(node) {}

 protected:
  Event do_upload(BackendBuffer& dst, std::uint64_t offset,
                  std::span<const std::byte> src) override {
    node_.write(handle_of(dst), offset, src);
    return {};
  }
  Event do_download(BackendBuffer& src, std::uint64_t offset, std::span<std::byte> dst) override {
    node_.read(handle_of(src), offset, dst);
    return {};
  }
  Event do_copy(BackendBuffer& src, std::uint64_t src_offset, BackendBuffer& dst,
                std::uint64_t dst_offset, std::uint64_t bytes) override {
    node_.copy(handle_of(src), src_offset, handle_of(dst), dst_offset, bytes);
    return {};
  }
  Event do_dispatch(const KernelSpec& kernel, std::span<const ResolvedRange> bindings,
                    std::span<const std::byte> push, Groups groups) override {
    std::vector<RemoteRange> ranges;
    ranges.reserve(bindings.size());
    for (const ResolvedRange& b : bindings) {
      ranges.push_back({handle_of(*b.buffer), b.offset, b.bytes});
    }
    node_.dispatch(kernel.name, ranges, push, groups);
    return {};
  }
  void do_flush() override {}
  void do_synchronize() override {
    node_.synchronize(static_cast<const RemoteDevice&>(device()).remote_id());
  }

 private:
  NodeConnection& node_;
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
  return std::make_unique<RemoteStream>(*this, *node_);
}

std::vector<MemoryHeap> RemoteDevice::do_query_heaps() {
  for (const DeviceProperties& props : node_->list_devices()) {
    if (props.id == remote_id_) return props.heaps;
  }
  fail(Errc::device_lost, "node {} no longer lists device {}", node_->address(), remote_id_);
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
  const std::uint64_t copied =
      from->node().peer_copy(src_handle, src_offset, to->node().address(), grant);
  if (copied != bytes) {
    fail(Errc::io, "copy_between_nodes: {} of {} bytes arrived", copied, bytes);
  }
}

}  // namespace crossgpu::cluster
