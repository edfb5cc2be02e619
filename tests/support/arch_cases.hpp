// The small random-weight models of every architecture that test_llm_arch runs and that the
// llama.cpp oracle (make check-llama-cpp-arch) records greedy tokens for: one list, so the
// checked-in expectations and the tests name the same files.
#pragma once

#include <cstdint>
#include <iterator>
#include <vector>

#include "kernels/weight_type.hpp"
#include "model/demo_model.hpp"

namespace crossgpu::testing {

struct ArchCase {
  const char* arch;
  kernels::WeightType type = kernels::WeightType::f32;
  std::uint32_t head_dim = 0;
  bool tied = false;
  bool rope_freqs = false;
  const char* label = "";
  std::uint32_t sliding_window = 8;  // gemma: 0 writes no sliding layers (gemma3 only)
};

inline constexpr ArchCase kArchCases[] = {
    {"llama", kernels::WeightType::f32, 0, true, true, "llama3_tied"},
    {"llama", kernels::WeightType::q8_0, 0, false, false, "llama_q8_0"},
    {"qwen2", kernels::WeightType::f32, 0, true, false, "qwen2"},
    {"qwen2", kernels::WeightType::q4_k, 0, false, false, "qwen2_q4_k"},
    {"qwen3", kernels::WeightType::f32, 128, false, false, "qwen3"},
    {"gemma2", kernels::WeightType::f32, 128, true, false, "gemma2"},
    {"gemma3", kernels::WeightType::f32, 128, true, false, "gemma3"},
    {"gemma3", kernels::WeightType::q8_0, 0, true, false, "gemma3_global_q8_0", 0},
    {"phi3", kernels::WeightType::f32, 0, false, false, "phi3"},
    {"phi3", kernels::WeightType::q6_k, 0, false, false, "phi3_q6_k"},
};

inline model::DemoModelSpec arch_spec(const ArchCase& c) {
  model::DemoModelSpec spec;
  spec.architecture = c.arch;
  spec.type = c.type;
  spec.layers = 3;
  spec.embedding = 256;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.ffn = 512;
  spec.context = 64;
  spec.head_dim = c.head_dim;
  spec.tied_output = c.tied;
  spec.rope_freqs = c.rope_freqs;
  spec.sliding_window = c.sliding_window;
  spec.seed = 11;
  return spec;
}

// Longer than the sliding window (8) and than one batch of 16, so prefill runs two batches.
inline const std::vector<std::uint32_t> kArchPrompt = {1,  300, 301, 302, 40, 41, 42, 500, 501, 9,
                                                       10, 11,  12,  13,  14, 15, 16, 17,  18};
inline constexpr std::uint32_t kArchNewTokens = 8;

}  // namespace crossgpu::testing
