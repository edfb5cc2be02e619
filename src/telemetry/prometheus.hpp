// The cluster view in the Prometheus text exposition format (version 0.0.4), served at /metrics:
// one gauge family per metric with HELP and TYPE lines, labels node (and device or peer). Only
// measured values are emitted: an unavailable sensor is an absent series, never a 0.
#pragma once

#include <string>

#include "telemetry/cluster_view.hpp"

namespace crossgpu::telemetry {

std::string prometheus_text(const ClusterView& view);

// A label value with \, " and newlines escaped as the format requires.
std::string prometheus_label_value(const std::string& text);

}  // namespace crossgpu::telemetry
