#include "serve/prefix_cache_budget.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "model/llama_costs.hpp"

namespace crossgpu::serve {

std::uint64_t kv_bytes_per_token(const model::LlamaConfig& config, const model::GgufFile& file) {
  std::uint64_t bytes = 0;
  for (const sched::LayerCost& layer : model::layer_costs(config, file)) bytes += layer.kv_bytes_per_token;
  return bytes;
}

PrefixCacheSize prefix_cache_size(std::uint64_t kv_bytes_per_token, std::uint32_t context, std::uint64_t budget_bytes) {
  if (context == 0 || kv_bytes_per_token == 0) {
    fail(Errc::invalid_argument, "a prefix cache needs a context and a KV cache per token (got {} positions of {} bytes)",
         context, kv_bytes_per_token);
  }
  PrefixCacheSize size;
  size.slot_bytes = kv_bytes_per_token * context;  // no overflow: both come from a loaded model
  size.slots = static_cast<std::uint32_t>(std::min<std::uint64_t>(budget_bytes / size.slot_bytes, kMaxPrefixCacheSlots));
  return size;
}

ServingPlan plan_serving(const model::GgufFile& file, const model::LlamaConfig& config,
                         const runtime::CandidateSet& devices, const runtime::PlanOptions& options,
                         std::uint32_t max_concurrency, std::uint64_t budget_bytes) {
  ServingPlan out;
  out.cache = prefix_cache_size(kv_bytes_per_token(config, file), options.context, budget_bytes);
  for (;;) {
    try {
      out.stages = std::make_unique<runtime::RecoverablePipeline>(file, config, devices, options,
                                                                  max_concurrency + out.cache.slots);
      return out;
    } catch (const Error& e) {
      if (e.code() != Errc::out_of_memory || out.cache.slots == 0) throw;
      out.cache.slots /= 2;
    }
  }
}

}  // namespace crossgpu::serve
