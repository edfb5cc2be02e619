#include "cluster/remote_node.hpp"

#include "cluster/remote_device.hpp"
#include "core/error.hpp"

namespace crossgpu::cluster {

std::unique_ptr<RemoteNode> RemoteNode::connect(const std::string& address,
                                                const net::NodeIdentity& identity,
                                                ConnectionOptions options) {
  return std::unique_ptr<RemoteNode>(
      new RemoteNode(NodeConnection::open(address, identity, options)));
}

RemoteNode::RemoteNode(std::shared_ptr<NodeConnection> connection)
    : connection_(std::move(connection)) {
  for (DeviceProperties& props : connection_->list_devices()) {
    devices_.push_back(std::make_shared<RemoteDevice>(connection_, std::move(props)));
  }
}

// Buffers still held by the caller keep their device and the connection alive; the session
// ends when the last of them is gone.
RemoteNode::~RemoteNode() = default;

std::shared_ptr<Device> RemoteNode::device(const std::string& id) const {
  std::string known;
  for (const auto& device : devices_) {
    // The cluster-wide id ("<node>/<device>") or the node's own id for it.
    if (device->id() == id || static_cast<const RemoteDevice&>(*device).remote_id() == id) return device;
    known += (known.empty() ? "" : ", ") + device->id();
  }
  fail(Errc::not_found, "node {} has no device '{}'; it has: {}", address(), id, known);
}

}  // namespace crossgpu::cluster
