#include "runtime/cluster_candidates.hpp"

#include <fmt/format.h>

#include <thread>

#include "cluster/node_connection.hpp"
#include "core/error.hpp"
#include "crossgpu/v1/node.pb.h"
#include "net/security.hpp"
#include "telemetry/cluster_view.hpp"
#include "telemetry/service/snapshot_client.hpp"

namespace crossgpu::runtime {

ClusterCandidates::ClusterCandidates(const std::string& node_address, const std::string& config_dir)
    : config_dir_(config_dir) {
  const net::NodeIdentity identity = net::NodeIdentity::load(net::resolve_config_dir(config_dir));
  add_node(node_address, {}, identity);
  const v1::StatusResponse status = nodes_.front()->connection().status();
  for (const v1::PeerStatus& peer : status.peers()) {
    if (peer.state() != "healthy") {
      warnings_.push_back(fmt::format("peer {} at {} is {}: not used", peer.node_id().substr(0, 12), peer.address(),
                                      peer.state()));
      continue;
    }
    try {
      add_node(peer.address(), peer.node_id(), identity);
    } catch (const Error& e) {
      // One unreachable peer must not stop the run: the plan uses the others.
      warnings_.push_back(fmt::format("peer {} at {}: {}", peer.node_id().substr(0, 12), peer.address(), e.what()));
    }
  }
}

void ClusterCandidates::add_node(const std::string& address, const std::string& expected_id,
                                 const net::NodeIdentity& identity) {
  cluster::ConnectionOptions options;
  options.expected_node_id = expected_id;  // a different node answering at that address is refused
  auto node = cluster::RemoteNode::connect(address, identity, options);
  const std::uint64_t quota = node->connection().quota_bytes();
  for (const auto& device : node->devices()) {
    // Shown as "<node id prefix>/<device name>"; matched to telemetry by the full device id.
    const std::string label = node->node_id().substr(0, 8) + "/" + device->properties().name;
    candidates_.push_back({.device = device, .label = label, .memory_limit = quota, .remote = true});
  }
  nodes_.push_back(std::move(node));
}

}  // namespace crossgpu::runtime

namespace crossgpu::runtime {

sched::PlacementInputs ClusterCandidates::placement_inputs() const {
  const net::NodeIdentity identity = net::NodeIdentity::load(net::resolve_config_dir(config_dir_));
  // Any node's view will do; the first that answers gives it (a lost one is skipped, so that a
  // run can re-plan after losing a node, even the one it asked first).
  std::string failures;
  for (const auto& node : nodes_) {
    if (node->connection().lost()) continue;
    try {
      return placement_inputs_from(*node, identity);
    } catch (const Error& e) {
      failures += fmt::format("\n  {}: {}", node->address(), e.what());
    }
  }
  fail(Errc::device_lost, "no node of the cluster answered for its telemetry:{}", failures.empty() ? " every node is lost" : failures);
}

sched::PlacementInputs ClusterCandidates::placement_inputs_from(const cluster::RemoteNode& node,
                                                                const net::NodeIdentity& identity) const {
  telemetry::ClusterAggregator view(node.node_id());
  for (telemetry::NodeTelemetry& n :
       telemetry::fetch_snapshot(identity.connect(node.address()), true, std::chrono::seconds(30))) {
    view.update(std::move(n));
  }
  sched::PlacementInputs inputs = sched::placement_inputs(view.view());
  // The node names its own devices without its node id; this client names them remotely.
  const auto qualify = [&](std::string& id) {
    if (id.find('/') == std::string::npos) id = node.node_id() + "/" + id;
  };
  for (sched::DeviceCapacity& d : inputs.devices) qualify(d.id);
  for (sched::ExcludedDevice& e : inputs.excluded) qualify(e.device_id);
  return inputs;
}

sched::PlacementInputs ClusterCandidates::placement_inputs_when_measured(std::chrono::seconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    sched::PlacementInputs inputs = placement_inputs();
    if (inputs.devices.size() >= candidates_.size()) return inputs;
    if (std::chrono::steady_clock::now() > deadline) {
      std::string why;
      for (const auto& e : inputs.excluded) why += fmt::format("\n  {}: {}", e.device_id, e.reason);
      fail(Errc::timeout, "after {} s, {} of {} devices are usable:{}", timeout.count(), inputs.devices.size(),
           candidates_.size(), why);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace crossgpu::runtime
