// A peer's device as a crossgpu::Device: allocate, upload, download, copy and dispatch work as on
// a local device (the Device/Stream layer validates everything locally first), and each backend
// hook is one call to the node. A lost node turns every call into Errc::device_lost.
#pragma once

#include <memory>

#include "cluster/node_connection.hpp"
#include "device/device.hpp"

namespace crossgpu::cluster {

class RemoteDevice final : public Device {
 public:
  // `props` as the node reports them. The device's id becomes "<node id>/<device id>": unique
  // in the cluster even where two nodes have identical devices (lavapipe's UUID is a constant).
  RemoteDevice(std::shared_ptr<NodeConnection> node, DeviceProperties props);
  ~RemoteDevice() override;

  // The id the node itself uses for this device (in every call to it).
  const std::string& remote_id() const noexcept { return remote_id_; }

  NodeConnection& node() const noexcept { return *node_; }
  const std::shared_ptr<NodeConnection>& connection() const noexcept { return node_; }
  // The node's handle of one of this device's buffers (validated like any BufferRef).
  std::uint64_t remote_handle(BufferRef ref, std::uint64_t offset, std::uint64_t bytes) const;

  // The node's weight cache for [offset, offset+bytes) of one of this device's buffers (see
  // NodeConnection::fill_from_cache / store_to_cache). Work queued on the default stream before
  // is ordered before either: the node runs a session's work in order.
  bool fill_from_cache(BufferRef ref, std::uint64_t offset, std::uint64_t bytes,
                       const BlobHash& sha256);
  bool store_to_cache(BufferRef ref, std::uint64_t offset, std::uint64_t bytes,
                      const BlobHash& sha256);

 protected:
  std::unique_ptr<BackendBuffer> do_allocate(std::uint64_t bytes, MemoryKind kind) override;
  std::unique_ptr<Stream> do_create_stream() override;
  std::vector<MemoryHeap> do_query_heaps() override;

 private:
  std::shared_ptr<NodeConnection> node_;
  std::string remote_id_;
};

// Copies [src_offset, +bytes) of a buffer on node A into a buffer on node B, directly A -> B:
// B grants A a write of exactly that range, and A streams it. Both buffers must be on remote
// devices (Errc::invalid_argument otherwise); work queued earlier on either is ordered before.
// When A does not watch B as a member (no --peer, no discovery) A refuses, and the range goes
// through this client instead (a warning says so once).
void copy_between_nodes(BufferRef src, std::uint64_t src_offset, BufferRef dst,
                        std::uint64_t dst_offset, std::uint64_t bytes);

}  // namespace crossgpu::cluster
