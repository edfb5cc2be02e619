// The ops that architectures beyond llama add to a layer (Llama 3 rope scaling, Gemma 2/3):
// GELU (tanh approximation), logit soft-capping, RoPE with per-pair frequency factors, and
// attention with a sliding window and soft-capped scores. Conventions as in ops.hpp (TensorRefs,
// f32, validation before anything is enqueued, the Event of the last dispatch).
//
//   ops::gelu_tanh(stream, gate, gate, n);
//   ops::rope_freqs(stream, q, factors, tokens, heads, 128, pos,
//                   {.freq_base = 500000.0f, .mode = ops::RopeMode::normal});
//   ops::attention_window(stream, q, k_cache, v_cache, out, shape, 0.0625f, {.window = 4096, .softcap = 50});
#pragma once

#include <cstdint>

#include "kernels/ops_attention.hpp"

namespace crossgpu::ops {

// out[i] = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), x = x[i]. In place allowed.
Event gelu_tanh(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n);
// out[i] = cap * tanh(x[i] / cap). cap finite and > 0 (Errc::invalid_argument). In place allowed.
Event softcap(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n, float cap);

struct RopeFreqsParams {
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // 1 / the linear scaling factor
  RopeMode mode = RopeMode::normal;
};

// rope() where pair i of a head at position p turns by
// p * freq_scale * freq_base^(-2i / head_dim) / factors[i]; factors: head_dim / 2 f32 (Llama 3's
// rope_freqs.weight). Errors as rope(), and a non-finite or non-positive freq_scale
// (Errc::invalid_argument).
Event rope_freqs(Stream& stream, TensorRef x, TensorRef factors, std::uint64_t tokens, std::uint64_t heads,
                 std::uint64_t head_dim, std::uint64_t start_pos, const RopeFreqsParams& params);

struct AttentionWindow {
  std::uint64_t window = 0;  // positions a query sees, itself included; 0: all (causal)
  float softcap = 0.0f;      // > 0: scores become softcap * tanh(score / softcap)
};

// attention() where query token t (position p = start_pos + t) sees only positions
// [max(0, p + 1 - window), p], and scores are soft-capped. One workgroup per query row walks its
// whole window (no context split, no scratch). Errors as attention(), and a negative or
// non-finite softcap (Errc::invalid_argument).
Event attention_window(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                       const AttentionShape& shape, float scale, const AttentionWindow& window);

// --- for recorded decode steps (device/recording.hpp): the position is read on the device ---

// rope_kv() (ops_attention.hpp) where pair i at position p turns by
// p * freq_scale * freq_base^(-2i / head_dim) / factors[i]; factors: head_dim / 2 f32. Errors as
// rope_kv() and rope_freqs().
Event rope_kv_freqs(Stream& stream, TensorRef qkv, TensorRef k_cache, TensorRef v_cache, TensorRef factors,
                    const RopeKvShape& shape, float freq_scale, const DevicePosition& position);

// attention_window() with shape.start_pos read on the device (shape.start_pos is ignored; the
// caches must hold position.max + tokens positions).
Event attention_window_at(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                          const AttentionShape& shape, float scale, const AttentionWindow& window,
                          const DevicePosition& position);

}  // namespace crossgpu::ops
