// The cluster view (telemetry) turned into what placement plans with: every usable device's
// capacity — measured throughput weighted by its score (scoring.hpp), free memory — and the
// measured links between them. A device is left out, with the reason, when its self-test failed
// or has not run, when it has no profile or no free-memory reading, or when its score excludes
// it (critical thermal state, low battery); the caller prints the reasons.
#pragma once

#include <string>
#include <vector>

#include "sched/placement.hpp"
#include "sched/scoring.hpp"
#include "telemetry/cluster_view.hpp"

namespace crossgpu::sched {

struct ExcludedDevice {
  std::string device_id;  // as in DeviceCapacity::id
  std::string reason;
};

struct PlacementInputs {
  // DeviceCapacity::id is the device id for this node's own devices and "<node id>/<device id>"
  // for a peer's (the id RemoteDevice gives it).
  std::vector<DeviceCapacity> devices;
  std::vector<Score> scores;                // parallel to devices
  std::vector<std::vector<Link>> links;     // links[a][b], sized devices x devices
  std::vector<ExcludedDevice> excluded;
};

// Links between devices of one node are free. Between nodes A and B: latency is half the
// measured RTT and bandwidth the probed rate, from A's measurement of B, else B's of A. When
// neither measured the pair, the route through this node is used (latency adds up, bandwidth
// is the slower leg), which data could actually take. A peer whose link to this node has no
// measured RTT and bandwidth is left out: a plan must not rest on a guessed link.
PlacementInputs placement_inputs(const telemetry::ClusterView& view);

}  // namespace crossgpu::sched
