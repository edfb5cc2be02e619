// What crossgpu-llm-bench compares its tokens/s with, from the device's profile measured in the
// same run. Decoding reads every weight once per token, so it can go no faster than the measured
// memory bandwidth divided by the bytes a token reads: a limit. A prefill batch reads the weights
// once for all its tokens but does all their FLOPs; its figure uses the profile's f32 matmul rate,
// which is not the rate of the quantized kernels prefill runs, so it is an estimate that a faster
// kernel can beat, not a limit.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "llm_model.hpp"
#include "llm_run.hpp"
#include "telemetry/profiler.hpp"

namespace crossgpu::bench {

struct Bandwidth {
  double bytes_per_s = 0;
  std::string source;  // which profile figure: "copy" or "matvec f32" or "matvec f16"
};

// The highest memory bandwidth the profile measured (a limit must not be set by a slow kernel).
Bandwidth best_bandwidth(const telemetry::DeviceProfile& profile);

struct Limits {
  double bandwidth_bytes_per_s = 0;
  double matmul_flops_per_s = 0;        // the profile's f32 matmul rate
  double decode_bytes_per_token = 0;    // weights + the mean KV cache read over the decoded positions
  double decode_tokens_per_s = 0;       // bandwidth / decode_bytes_per_token
  double prefill_estimate_tokens_per_s = 0;  // prompt / sum over batches of max(bytes / bandwidth, FLOPs / rate)
  std::string prefill_bound;            // "bandwidth" or "compute": which term dominated
};

Limits limits_of(const BenchModel& model, const telemetry::DeviceProfile& profile, const Bandwidth& bandwidth,
                 const RunSettings& settings);
nlohmann::json limits_json(const Limits& limits);

}  // namespace crossgpu::bench
