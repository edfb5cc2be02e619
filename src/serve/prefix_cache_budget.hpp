// How much of the devices' memory `crossgpu serve` gives to its prefix cache. The cache is made of
// KV-cache slots beyond the sequences that decode together: a finished conversation's keys and
// values stay in its slot, on the stages' devices, until a request continues them (the next turn
// runs only its new tokens) or takes the slot as the one released longest ago. A slot holds a whole
// context of every layer (the caches are not paged), so the budget buys whole slots: as many as
// fit in it, none when one does not (free decoding slots still keep their tokens then).
#pragma once

#include <cstdint>
#include <memory>

#include "model/gguf.hpp"
#include "model/llama_config.hpp"
#include "runtime/recoverable_pipeline.hpp"

namespace crossgpu::serve {

inline constexpr std::uint64_t kDefaultPrefixCacheMib = 256;
// More parked slots than this only lengthen the search for a match; planning them could also
// starve the weights of a small model on a big budget.
inline constexpr std::uint32_t kMaxPrefixCacheSlots = 64;

struct PrefixCacheSize {
  std::uint32_t slots = 0;         // KV-cache slots kept for cached prefixes
  std::uint64_t slot_bytes = 0;    // one slot's KV caches, every layer together
  std::uint64_t bytes() const noexcept { return slots * slot_bytes; }
};

// The KV cache of one token, every layer together (the f32 caches the stages allocate).
std::uint64_t kv_bytes_per_token(const model::LlamaConfig& config, const model::GgufFile& file);

// The slots of `context` positions that `budget_bytes` holds, at most kMaxPrefixCacheSlots.
// Throws Errc::invalid_argument for a zero context or a zero per-token size.
PrefixCacheSize prefix_cache_size(std::uint64_t kv_bytes_per_token, std::uint32_t context, std::uint64_t budget_bytes);

struct ServingPlan {
  std::unique_ptr<runtime::RecoverablePipeline> stages;  // planned, not loaded
  PrefixCacheSize cache;
};

// Plans the model over `devices` with `max_concurrency` decoding slots and the slots the budget
// buys; when the devices cannot hold them all (Errc::out_of_memory), with half as many parked
// slots, down to none: the cache takes only memory the model leaves. Throws the planner's error
// when even the decoding slots do not fit. A re-plan after a lost device keeps the slots chosen.
ServingPlan plan_serving(const model::GgufFile& file, const model::LlamaConfig& config,
                         const runtime::CandidateSet& devices, const runtime::PlanOptions& options,
                         std::uint32_t max_concurrency, std::uint64_t budget_bytes);

}  // namespace crossgpu::serve
