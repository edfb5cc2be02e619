// The push-constant blocks of the transformer kernels (RoPE, attention), as the C++ side writes
// them. Like push_constants.hpp: each struct mirrors the `Push` block of the shader named beside
// it, member for member, 4-byte scalars only (std430 == C++ layout; the static_asserts pin it),
// and `*_offset` counts elements from the start of the bound range.
#pragma once

#include <cstdint>

namespace crossgpu::kernels {

// Workgroup shapes, as declared in the shaders (local_size_x).
inline constexpr std::uint32_t kRopeThreads = 256;       // one rotated pair per invocation
inline constexpr std::uint32_t kAttentionThreads = 128;  // attention_f32, attention_combine_f32
// attention_f32 keeps the query row in shared memory and gives each invocation head_dim / 128
// output elements: the largest head it can hold. Llama-family models use 64 or 128.
inline constexpr std::uint32_t kMaxHeadDim = 256;

// rope_f32.comp. mode: 0 rotates pairs (2i, 2i + 1), 2 rotates (i, i + head_dim / 2)
// (ops::RopeMode). Pair i of token t turns by (start_pos + t) * freq_base^(-2i / head_dim).
struct RopePush {
  std::uint32_t tokens;
  std::uint32_t heads;
  std::uint32_t head_dim;
  std::uint32_t x_offset;
  std::uint32_t start_pos;
  float freq_base;
  std::uint32_t mode;
};
static_assert(sizeof(RopePush) == 28);

// attention_f32.comp. Groups: x = tokens * heads (one query row each), y = splits. Workgroup
// (row, s) covers the row's causal positions [s * chunk, (s + 1) * chunk). With splits == 1 it
// writes the normalized output row to `out`; otherwise it writes a partial of head_dim + 2
// floats (the unnormalized sum of weights times V, then the running max and the sum of weights)
// at out[out_offset + (row * splits + s) * (head_dim + 2)], for attention_combine_f32.
struct AttentionPush {
  std::uint32_t tokens;
  std::uint32_t heads;
  std::uint32_t kv_heads;
  std::uint32_t head_dim;
  std::uint32_t start_pos;
  std::uint32_t chunk;
  std::uint32_t splits;
  std::uint32_t q_offset;
  std::uint32_t k_offset;
  std::uint32_t v_offset;
  std::uint32_t out_offset;
  float scale;
};
static_assert(sizeof(AttentionPush) == 48);

// attention_at_f32.comp: attention_f32 with the first query token's position read from u32
// element `position_offset` of binding 4 and clamped to base.start_pos (so base.start_pos is
// the largest position the caches are bound for). Groups as attention_f32.
struct AttentionAtPush {
  AttentionPush base;
  std::uint32_t position_offset;
};
static_assert(sizeof(AttentionAtPush) == 52);

// rope_kv_f32.comp: bindings {qkv, k_cache, v_cache, position}. qkv holds per token
// [heads + 2 * kv_heads][head_dim] (queries, keys, values). position = min(position[
// position_offset], max_pos) + token: the queries are rotated in place, the keys rotated into
// k_cache[k_offset + (position * kv_heads + h) * head_dim ...], the values copied likewise into
// v_cache. Groups: x = ceil(tokens * (heads + kv_heads) * head_dim / 2 / kRopeThreads).
struct RopeKvPush {
  std::uint32_t tokens;
  std::uint32_t heads;
  std::uint32_t kv_heads;
  std::uint32_t head_dim;
  std::uint32_t qkv_offset;
  std::uint32_t k_offset;
  std::uint32_t v_offset;
  std::uint32_t position_offset;
  std::uint32_t max_pos;
  float freq_base;
  std::uint32_t mode;
};
static_assert(sizeof(RopeKvPush) == 44);

// attention_combine_f32.comp: the partials of each of `rows` rows -> one output row. Groups:
// x = rows.
struct AttentionCombinePush {
  std::uint32_t rows;
  std::uint32_t splits;
  std::uint32_t head_dim;
  std::uint32_t part_offset;
  std::uint32_t out_offset;
};
static_assert(sizeof(AttentionCombinePush) == 20);

}  // namespace crossgpu::kernels
