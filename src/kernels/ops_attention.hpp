// The transformer ops of a llama-family layer that are not plain linear algebra: rotary
// position embedding and causal grouped-query attention over a KV cache. Conventions as in
// ops.hpp (TensorRefs, f32, validation before anything is enqueued, the Event of the last
// dispatch).
//
//   ops::rope(stream, q, tokens, heads, head_dim, pos, 10000.0f, ops::RopeMode::normal);
//   ops::attention(stream, q, k_cache, v_cache, out,
//                  {.tokens = 1, .heads = 32, .kv_heads = 8, .head_dim = 128, .start_pos = pos},
//                  1.0f / std::sqrt(128.0f));
#pragma once

#include <cstdint>

#include "kernels/ops.hpp"

namespace crossgpu::ops {

// Which elements of a head form the pairs that RoPE rotates.
enum class RopeMode : std::uint32_t {
  normal = 0,  // pairs (2i, 2i + 1): llama in GGUF
  neox = 2,    // pairs (i, i + head_dim / 2): GPT-NeoX, and llama checkpoints in HF layout
};

// In place on x = [tokens][heads][head_dim] f32: token t has position start_pos + t, and pair i
// of every head rotates by the angle position * freq_base^(-2i / head_dim).
// head_dim must be even, freq_base finite and > 0, mode one of RopeMode
// (Errc::invalid_argument); positions must stay below 2^24, where f32 still counts every
// integer (Errc::out_of_range). Angles are computed in f32, like other runtimes do: their error
// grows with the position (about 1e-3 radian at position 8192).
Event rope(Stream& stream, TensorRef x, std::uint64_t tokens, std::uint64_t heads,
           std::uint64_t head_dim, std::uint64_t start_pos, float freq_base, RopeMode mode);

struct AttentionShape {
  std::uint64_t tokens = 0;     // query tokens in this call (1 for decode, the prompt for prefill)
  std::uint64_t heads = 0;      // query heads
  std::uint64_t kv_heads = 0;   // key/value heads; query head h uses kv head h / (heads / kv_heads)
  std::uint64_t head_dim = 0;   // at most kernels::kMaxHeadDim (256)
  std::uint64_t start_pos = 0;  // position of the first query token
};

// Causal attention. q and out: [tokens][heads][head_dim]; k_cache and v_cache:
// [positions][kv_heads][head_dim], holding at least start_pos + tokens positions (the caller has
// already written this call's keys and values). Query token t attends to positions
// 0 .. start_pos + t: out = softmax(scale * q . k) weighted sum of v, the maximum subtracted
// before exp, all in f32. `scale` is usually 1 / sqrt(head_dim).
// Errors: heads not a multiple of kv_heads (kv_heads 0 included) or a non-finite scale:
// Errc::invalid_argument; head_dim > 256, or a KV cache whose used positions exceed one
// storage-buffer binding of the device: Errc::unsupported; out overlapping q, k_cache or
// v_cache: Errc::invalid_argument; operands too small: Errc::out_of_range.
// Long contexts are split into chunks of positions, each a workgroup, whose partial results a
// second kernel combines; that needs a scratch buffer of at most about 1 MiB, allocated for the
// call.
Event attention(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                const AttentionShape& shape, float scale);

// --- for recorded decode steps (device/recording.hpp): the position is read on the device ---

// Where a recorded step finds the position of its first token: the u32 at `at` (an offset that
// is a multiple of 4), clamped on the device to `max`, the largest position the caches are
// bound for. A replay writes the position there first.
struct DevicePosition {
  TensorRef at;
  std::uint64_t max = 0;
};

struct RopeKvShape {
  std::uint64_t tokens = 0;
  std::uint64_t heads = 0;
  std::uint64_t kv_heads = 0;
  std::uint64_t head_dim = 0;
  float freq_base = 10000.0f;
  RopeMode mode = RopeMode::normal;
};

// RoPE fused with the KV-cache write. qkv: per token [heads + 2 * kv_heads][head_dim] (queries,
// keys, values, as ops::matvec_fused writes a packed Q|K|V). The queries are rotated in place;
// the keys are rotated into k_cache and the values copied into v_cache ([positions][kv_heads]
// [head_dim], holding at least max + tokens positions) at position p + t, p read on the device.
// Errors as rope and attention; qkv, the caches and the position must not overlap.
Event rope_kv(Stream& stream, TensorRef qkv, TensorRef k_cache, TensorRef v_cache,
              const RopeKvShape& shape, const DevicePosition& position);

// attention() with shape.start_pos read on the device (shape.start_pos is ignored; the caches
// must hold position.max + tokens positions). The context split is fixed for the longest
// context, so its partials go to `scratch`, of attention_at_scratch_bytes(shape, position.max)
// bytes (none needed when that is 0), which the caller keeps for as long as the work (or a
// recording of it) lives: nothing is allocated per call.
std::uint64_t attention_at_scratch_bytes(const AttentionShape& shape, std::uint64_t max_pos);
Event attention_at(Stream& stream, TensorRef q, TensorRef k_cache, TensorRef v_cache, TensorRef out,
                   const AttentionShape& shape, float scale, const DevicePosition& position,
                   TensorRef scratch);

}  // namespace crossgpu::ops
