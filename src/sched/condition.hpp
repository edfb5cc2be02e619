// The condition scoring needs (scoring.hpp), built from what telemetry measured.
#pragma once

#include "sched/scoring.hpp"
#include "telemetry/collector.hpp"

namespace crossgpu::sched {

DeviceCondition condition_of(const telemetry::DeviceMetrics& device, const telemetry::HostMetrics& host);

}  // namespace crossgpu::sched
