// DeviceProperties <-> the wire's DeviceInfo. A remote device's properties come from its node's
// ListDevices answer; fields the wire does not carry keep their defaults.
#pragma once

#include "crossgpu/v1/node.pb.h"
#include "device/properties.hpp"

namespace crossgpu::cluster {

v1::DeviceInfo to_wire(const DeviceProperties& props);
// Validates what a peer sent (id and name present, bounded sizes); Errc::invalid_argument else.
DeviceProperties from_wire(const v1::DeviceInfo& info);

}  // namespace crossgpu::cluster
