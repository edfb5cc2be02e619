#include "llm_limits.hpp"

#include <algorithm>

namespace crossgpu::bench {
namespace {

double decode_bytes_per_token(const BenchModel& model, const RunSettings& s) {
  double kv = 0;
  for (std::uint32_t i = 0; i < s.decode_tokens; ++i) kv += static_cast<double>(model.kv_bytes_read(s.prompt_tokens + i));
  return static_cast<double>(model.weight_bytes_per_token()) + kv / s.decode_tokens;
}

// Seconds the prompt's batches take at best, and whether bandwidth or compute set that.
std::pair<double, bool> prefill_seconds(const BenchModel& model, const Limits& l, const RunSettings& s) {
  double seconds = 0, bandwidth_seconds = 0, compute_seconds = 0;
  for (std::uint32_t pos = 0; pos < s.prompt_tokens; pos += s.batch) {
    const std::uint32_t tokens = std::min(s.batch, s.prompt_tokens - pos);
    // Only the batch's last token goes through the head.
    const double flops = tokens * (model.flops_per_token() - model.head_flops()) + model.head_flops();
    const double bytes = static_cast<double>(model.weight_bytes_per_token()) +
                         static_cast<double>(model.kv_bytes_read(pos + tokens - 1));
    const double b = bytes / l.bandwidth_bytes_per_s, c = l.matmul_flops_per_s > 0 ? flops / l.matmul_flops_per_s : 0;
    seconds += std::max(b, c);
    bandwidth_seconds += b;
    compute_seconds += c;
  }
  return {seconds, bandwidth_seconds >= compute_seconds};
}

}  // namespace

Bandwidth best_bandwidth(const telemetry::DeviceProfile& p) {
  Bandwidth best{p.copy_bytes_per_s, "copy"};
  if (p.matvec_f32_bytes_per_s > best.bytes_per_s) best = {p.matvec_f32_bytes_per_s, "matvec f32"};
  if (p.matvec_f16_bytes_per_s > best.bytes_per_s) best = {p.matvec_f16_bytes_per_s, "matvec f16"};
  return best;
}

Limits limits_of(const BenchModel& model, const telemetry::DeviceProfile& profile, const Bandwidth& bandwidth,
                 const RunSettings& settings) {
  Limits l;
  l.bandwidth_bytes_per_s = bandwidth.bytes_per_s;
  l.matmul_flops_per_s = profile.matmul_f32_flops;
  l.decode_bytes_per_token = decode_bytes_per_token(model, settings);
  if (l.bandwidth_bytes_per_s <= 0) return l;  // nothing measured: no limit rather than a guess
  l.decode_tokens_per_s = l.bandwidth_bytes_per_s / l.decode_bytes_per_token;
  const auto [seconds, bandwidth_bound] = prefill_seconds(model, l, settings);
  l.prefill_estimate_tokens_per_s = seconds > 0 ? settings.prompt_tokens / seconds : 0;
  l.prefill_bound = bandwidth_bound ? "bandwidth" : "compute";
  return l;
}

nlohmann::json limits_json(const Limits& l) {
  return {{"bandwidth_bytes_per_s", l.bandwidth_bytes_per_s},
          {"matmul_f32_flops_per_s", l.matmul_flops_per_s},
          {"decode_bytes_per_token", l.decode_bytes_per_token},
          {"decode_tokens_per_s", l.decode_tokens_per_s},
          {"prefill_estimate_tokens_per_s", l.prefill_estimate_tokens_per_s},
          {"prefill_bound", l.prefill_bound}};
}

}  // namespace crossgpu::bench
