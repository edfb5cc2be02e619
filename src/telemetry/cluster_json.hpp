// The cluster view as JSON, served at /api/cluster and printed by `crossgpu status --json`.
// Every measured value is {"available": bool, "value": number|null, "source": text}: the source
// names where a value came from or why it is missing.
#pragma once

#include <nlohmann/json.hpp>

#include "telemetry/cluster_view.hpp"

namespace crossgpu::telemetry {

nlohmann::json cluster_json(const ClusterView& view);
nlohmann::json node_json(const NodeView& node);

}  // namespace crossgpu::telemetry
