// Calls a node served, by kind: how many network requests a client's work cost. A remote stage's
// decode step is one Run; per-op work is one Dispatch per kernel.
#pragma once

#include <cstdint>
#include <string>

namespace crossgpu::cluster {

struct NodeCallCounts {
  std::uint64_t run = 0;
  std::uint64_t record = 0;
  std::uint64_t dispatch = 0;
  // Decode-chain steps: a client's chain step or a node's chain forward, one per stage per token
  // (docs/PROTOCOL.md, "Decode chains"); awaits are not counted.
  std::uint64_t chain_step = 0;
  // Node-to-node copies this node sent for a client over its data channel (peer copy requests,
  // rounded to f16 or not): a pipelined prefill's micro-batches leave a stage's node this way.
  std::uint64_t peer_copy = 0;
};

// The counts in Prometheus' text format, as the counter crossgpu_node_requests_total{kind=...}.
std::string prometheus_text(const NodeCallCounts& counts);

}  // namespace crossgpu::cluster
