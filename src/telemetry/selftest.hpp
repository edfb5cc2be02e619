// The correctness self-test every device runs when it joins (and `crossgpu selftest` runs on
// demand): a chain of every kind of op on odd shapes, uploaded, run and downloaded, compared
// with the CPU reference. A device that fails is excluded from placement with the first
// mismatches as the reason — mobile drivers that return garbage exist.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device/device.hpp"

namespace crossgpu::telemetry {

struct SelfTestReport {
  bool passed = true;
  int checks = 0;
  double cold_ms = 0;   // first run: includes pipeline creation (the shader JIT on lavapipe)
  double warm_ms = 0;   // median of later runs
  double max_error = 0;  // largest relative error seen
  std::vector<std::string> notes;  // mismatches, errors, skipped parts
};

// Never throws for a device problem: errors become a failed report with the reason.
SelfTestReport self_test(Device& device, std::uint32_t seed = 1);

}  // namespace crossgpu::telemetry
