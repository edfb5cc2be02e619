// Push constants of the kernels that architectures beyond llama need (kernels/arch_kernels.hpp):
// RoPE with per-pair frequency factors and a frequency scale (Llama 3's rope_freqs, linear
// scaling), and attention with a sliding window and logit soft-capping (Gemma 2/3). The GELU and
// soft-cap kernels take UnaryPush (push_constants.hpp), alpha being the cap.
#pragma once

#include <cstdint>

#include "kernels/push_constants_attention.hpp"

namespace crossgpu::kernels {

// rope_freqs_f32.comp. Pair i of token t turns by
// (start_pos + t) * freq_scale * freq_base^(-2i / head_dim) / factors[factors_offset + i].
// Groups: x = ceil(tokens * heads * head_dim / 2 / kRopeThreads).
struct RopeFreqsPush {
  std::uint32_t tokens;
  std::uint32_t heads;
  std::uint32_t head_dim;
  std::uint32_t x_offset;
  std::uint32_t start_pos;
  float freq_base;
  std::uint32_t mode;  // 0: pairs (2i, 2i + 1); 2: pairs (i, i + head_dim / 2)
  float freq_scale;
  std::uint32_t factors_offset;
};
static_assert(sizeof(RopeFreqsPush) == 36);

// attention_window_f32.comp. Groups: x = tokens * heads, one query row each, over its whole
// (windowed) context. Query token t at position p = start_pos + t attends to positions
// [p + 1 - window, p] (all of [0, p] when window == 0); a score s = scale * q . k becomes
// softcap * tanh(s / softcap) when softcap > 0.
struct AttentionWindowPush {
  std::uint32_t tokens;
  std::uint32_t heads;
  std::uint32_t kv_heads;
  std::uint32_t head_dim;
  std::uint32_t start_pos;
  std::uint32_t window;
  std::uint32_t q_offset;
  std::uint32_t k_offset;
  std::uint32_t v_offset;
  std::uint32_t out_offset;
  float scale;
  float softcap;
};
static_assert(sizeof(AttentionWindowPush) == 48);

// attention_window_at_f32.comp: AttentionWindowPush with the position read on the device:
// start_pos = min(position[position_offset], the push's start_pos), the largest position the
// caches are bound for. Bindings {q, k, v, out, position}.
struct AttentionWindowAtPush {
  AttentionWindowPush base;
  std::uint32_t position_offset;
};
static_assert(sizeof(AttentionWindowAtPush) == 52);

// rope_kv_freqs_f32.comp: RopeKvPush (push_constants_attention.hpp) with the factors and scale of
// RopeFreqsPush. Bindings {qkv, k_cache, v_cache, position, factors}.
struct RopeKvFreqsPush {
  RopeKvPush base;
  float freq_scale;
  std::uint32_t factors_offset;
};
static_assert(sizeof(RopeKvFreqsPush) == 52);

}  // namespace crossgpu::kernels
