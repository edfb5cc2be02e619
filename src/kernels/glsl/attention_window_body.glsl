// Causal grouped-query attention with a sliding window and logit soft-capping (Gemma 2/3): one
// workgroup per query row (row = token * heads + head) over its whole window, no split.
// Query token t at position p = start_pos + t attends to positions [max(0, p + 1 - window), p]
// (window 0: all of [0, p]) of KV head head / (heads / kv_heads); score s = scale * q . k,
// soft-capped to softcap * tanh(s / softcap) when softcap > 0, then softmax and the weighted sum
// of V. Positions are walked in tiles of 128 with an online softmax (running max, sum and
// weighted sum, rescaled when the max grows). Push constants: kernels/push_constants_arch.hpp
// AttentionWindowPush (AttentionWindowAtPush with POSITION_FROM_BUFFER). Groups: x = tokens * heads.
// Included by attention_window_f32.comp and, with POSITION_FROM_BUFFER (the position read on the
// device and clamped to start_pos, for recorded decode steps), attention_window_at_f32.comp.
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 2) readonly buffer V { float v[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Out { float out_[]; };
#ifdef POSITION_FROM_BUFFER
layout(std430, set = 0, binding = 4) readonly buffer Position { uint position[]; };
#endif

layout(push_constant) uniform Push {
  uint tokens;
  uint heads;
  uint kv_heads;
  uint head_dim;
  uint start_pos;
  uint window;
  uint q_offset;
  uint k_offset;
  uint v_offset;
  uint out_offset;
  float scale;
  float softcap;
#ifdef POSITION_FROM_BUFFER
  uint position_offset;  // start_pos is then the largest position the buffer may name
#endif
} p;

uint start_position() {
#ifdef POSITION_FROM_BUFFER
  return min(position[p.position_offset], p.start_pos);
#else
  return p.start_pos;
#endif
}

#include "tanh_safe.glsl"

const uint THREADS = 128;
const uint MAX_DIM = 256;  // kernels::kMaxHeadDim
const uint DIMS = MAX_DIM / THREADS;
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float q_s[MAX_DIM];
shared float w_s[THREADS];

float capped(float s) { return p.softcap > 0.0 ? p.softcap * tanh_safe(s / p.softcap) : s; }

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= p.tokens * p.heads) return;  // uniform across the workgroup
  const uint lid = gl_LocalInvocationID.x;
  const uint dim = p.head_dim;
  const uint kv_head = (row % p.heads) / (p.heads / p.kv_heads);
  const uint kv_stride = p.kv_heads * dim;
  const uint end = start_position() + row / p.heads + 1;
  const uint begin = (p.window != 0u && end > p.window) ? end - p.window : 0u;

  for (uint d = lid; d < dim; d += THREADS) q_s[d] = q[p.q_offset + row * dim + d];
  barrier();

  float m = NEG_INF;
  float l = 0.0;
  float acc[DIMS];
  for (uint c = 0; c < DIMS; ++c) acc[c] = 0.0;
  for (uint tile = begin; tile < end; tile += THREADS) {
    const uint count = min(THREADS, end - tile);
    float score = NEG_INF;
    if (lid < count) {
      const uint base = p.k_offset + (tile + lid) * kv_stride + kv_head * dim;
      float dot = 0.0;
      for (uint d = 0; d < dim; ++d) dot = fma(q_s[d], k[base + d], dot);
      score = capped(p.scale * dot);
    }
    w_s[lid] = score;
    barrier();
    float new_m = m;
    for (uint j = 0; j < count; ++j) new_m = max(new_m, w_s[j]);
    barrier();
    w_s[lid] = lid < count ? exp(score - new_m) : 0.0;
    barrier();
    const float rescale = m == NEG_INF ? 0.0 : exp(m - new_m);
    l *= rescale;
    for (uint c = 0; c < DIMS; ++c) acc[c] *= rescale;
    for (uint j = 0; j < count; ++j) {
      const float w = w_s[j];
      l += w;
      const uint base = p.v_offset + (tile + j) * kv_stride + kv_head * dim;
      for (uint c = 0; c < DIMS; ++c) {
        const uint d = lid + c * THREADS;
        if (d < dim) acc[c] = fma(w, v[base + d], acc[c]);
      }
    }
    m = new_m;
    barrier();
  }
  for (uint c = 0; c < DIMS; ++c) {
    const uint d = lid + c * THREADS;
    if (d < dim) out_[p.out_offset + row * dim + d] = acc[c] / l;
  }
}
