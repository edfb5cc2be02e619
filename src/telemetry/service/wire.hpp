// Telemetry in and out of its protobuf form (proto/crossgpu/v1/telemetry.proto). Decoding is for
// untrusted input: version, sizes and numbers are checked and a violation is a typed Error that
// names the field. An absent Measured* wrapper decodes as unavailable, never as 0.
#pragma once

#include "crossgpu/v1/telemetry.pb.h"
#include "telemetry/node_telemetry.hpp"

namespace crossgpu::telemetry {

// Limits a decoded NodeTelemetry must respect (far above any real node).
inline constexpr std::size_t kMaxWireDevices = 256;
inline constexpr std::size_t kMaxWireLinks = 1024;
inline constexpr std::size_t kMaxWireText = 4096;

v1::TelemetryVersion telemetry_version();
// Errc::unsupported for another major version, or a missing one; a newer minor is accepted.
void check_telemetry_version(const v1::TelemetryVersion& version);

v1::NodeTelemetry to_wire(const NodeTelemetry& telemetry);
// Errc::unsupported for another major; Errc::invalid_argument for an empty node id, too many
// devices or links, oversized text, a non-finite measurement, an unknown enum value.
NodeTelemetry from_wire(const v1::NodeTelemetry& wire);

}  // namespace crossgpu::telemetry
