// A device that a model may be planned onto, as planning and the run summary name it: local (a
// device of this process) or remote (a node's device, reached through the cluster layer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "device/device.hpp"

namespace crossgpu::runtime {

struct Candidate {
  std::shared_ptr<Device> device;
  std::string label;                 // shown in tables: the device id, "<node>/<device>" if remote
  std::uint64_t memory_limit = 0;    // a node's quota for our session; 0: none
  bool remote = false;
};

}  // namespace crossgpu::runtime
