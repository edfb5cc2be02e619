// The service's counters and its recoveries from lost devices in Prometheus' text format, for
// `crossgpu serve`'s /metrics.
#pragma once

#include <string>

#include "serve/generation_service.hpp"

namespace crossgpu::serve {

std::string serve_metrics_text(const ServiceCounters& counters, const RecoveryTotals& recoveries);

}  // namespace crossgpu::serve
