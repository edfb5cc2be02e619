// The devices of the cluster as seen from this machine: the node at `node_address` (normally
// the one running here) and every healthy peer it knows, each connected with this machine's
// identity so that its devices can run stages. The connections live as long as this object.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cluster/remote_node.hpp"
#include "runtime/candidate.hpp"
#include "sched/from_telemetry.hpp"

namespace crossgpu::runtime {

class ClusterCandidates {
 public:
  // Throws Errc::io when the node cannot be reached, permission_denied for a foreign identity.
  ClusterCandidates(const std::string& node_address, const std::string& config_dir);

  const std::vector<Candidate>& candidates() const noexcept { return candidates_; }
  const std::vector<std::unique_ptr<cluster::RemoteNode>>& nodes() const noexcept { return nodes_; }
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  // What a node's telemetry (the first that answers) says of every device of the cluster (profiles measured by
  // each node on its own devices, scores, self-tests, measured links), fetched now, with ids as
  // this client's RemoteDevices name them ("<node>/<device>").
  sched::PlacementInputs placement_inputs() const;

  // The same, once every device has been profiled and self-tested and every link measured (each
  // node does so on start, in the background), so that a plan rests on measurements. Throws
  // Errc::timeout, naming the devices still unusable, after `timeout`.
  sched::PlacementInputs placement_inputs_when_measured(std::chrono::seconds timeout) const;

 private:
  void add_node(const std::string& address, const std::string& expected_id, const net::NodeIdentity& identity);
  sched::PlacementInputs placement_inputs_from(const cluster::RemoteNode& node, const net::NodeIdentity& identity) const;

  std::vector<std::unique_ptr<cluster::RemoteNode>> nodes_;
  std::vector<Candidate> candidates_;
  std::vector<std::string> warnings_;  // peers that were seen but could not be used
  std::string config_dir_;             // this machine's identity, for the telemetry fetch
};

}  // namespace crossgpu::runtime
