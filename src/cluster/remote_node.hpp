// A node of the cluster as a client sees it: the connection (session, heartbeats) and the node's
// devices as RemoteDevices, ready to use like local ones.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cluster/node_connection.hpp"
#include "device/device.hpp"

namespace crossgpu::cluster {

class RemoteNode {
 public:
  // Connects with this machine's identity (see NodeConnection::open) and lists the devices.
  static std::unique_ptr<RemoteNode> connect(const std::string& address,
                                             const net::NodeIdentity& identity,
                                             ConnectionOptions options = {});
  ~RemoteNode();

  NodeConnection& connection() const noexcept { return *connection_; }
  const std::string& node_id() const noexcept { return connection_->node_id(); }
  const std::string& address() const noexcept { return connection_->address(); }
  const std::vector<std::shared_ptr<Device>>& devices() const noexcept { return devices_; }
  // Errc::not_found listing the ids that exist.
  std::shared_ptr<Device> device(const std::string& id) const;

 private:
  explicit RemoteNode(std::shared_ptr<NodeConnection> connection);
  std::shared_ptr<NodeConnection> connection_;
  std::vector<std::shared_ptr<Device>> devices_;
};

}  // namespace crossgpu::cluster
