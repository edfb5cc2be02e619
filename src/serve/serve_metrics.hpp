// The service's counters in Prometheus' text format, for `crossgpu serve`'s /metrics.
#pragma once

#include <string>

#include "serve/generation_service.hpp"

namespace crossgpu::serve {

std::string serve_metrics_text(const ServiceCounters& counters);

}  // namespace crossgpu::serve
