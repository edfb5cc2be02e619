#include "cluster/call_counts.hpp"

#include <fmt/format.h>

namespace crossgpu::cluster {

std::string prometheus_text(const NodeCallCounts& counts) {
  return fmt::format(
      "# HELP crossgpu_node_requests_total Requests this node served, by kind: a remote stage's decode step is "
      "one run or one chain_step; per-op work is one dispatch per kernel.\n"
      "# TYPE crossgpu_node_requests_total counter\n"
      "crossgpu_node_requests_total{{kind=\"run\"}} {}\n"
      "crossgpu_node_requests_total{{kind=\"record\"}} {}\n"
      "crossgpu_node_requests_total{{kind=\"dispatch\"}} {}\n"
      "crossgpu_node_requests_total{{kind=\"chain_step\"}} {}\n"
      "crossgpu_node_requests_total{{kind=\"peer_copy\"}} {}\n",
      counts.run, counts.record, counts.dispatch, counts.chain_step, counts.peer_copy);
}

}  // namespace crossgpu::cluster
