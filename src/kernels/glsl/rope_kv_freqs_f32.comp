// rope_kv_f32 with per-pair frequency factors and a frequency scale (Llama 3.1's rope_freqs,
// linear scaling), for a recorded decode step: per token, qkv holds the query heads, the key
// heads, then the value heads; the queries are rotated in place, the keys rotated into k_cache
// and the values copied into v_cache at the token's position, read from a device buffer and
// clamped to max_pos. Pair i at position p turns by
// p * freq_scale * freq_base^(-2i / head_dim) / factors[i]. Push constants:
// kernels/push_constants_arch.hpp RopeKvFreqsPush. One pair per invocation: groups
// x = ceil(tokens * (heads + kv_heads) * head_dim / 2 / 256).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer Qkv { float qkv[]; };
layout(std430, set = 0, binding = 1) writeonly buffer KCache { float k_cache[]; };
layout(std430, set = 0, binding = 2) writeonly buffer VCache { float v_cache[]; };
layout(std430, set = 0, binding = 3) readonly buffer Position { uint position[]; };
layout(std430, set = 0, binding = 4) readonly buffer F { float factors[]; };

layout(push_constant) uniform Push {
  uint tokens;
  uint heads;
  uint kv_heads;
  uint head_dim;
  uint qkv_offset;
  uint k_offset;
  uint v_offset;
  uint position_offset;
  uint max_pos;
  float freq_base;
  uint mode;  // 0: pairs (2i, 2i + 1); 2: pairs (i, i + head_dim / 2)
  float freq_scale;
  uint factors_offset;
} p;

#include "rope_angle.glsl"

void main() {
  const uint half_dim = p.head_dim / 2;
  const uint per_token = (p.heads + p.kv_heads) * half_dim;
  const uint g = gl_GlobalInvocationID.x;
  if (g >= p.tokens * per_token) return;
  const uint token = g / per_token;
  const uint head = (g % per_token) / half_dim;  // queries first, then keys
  const uint i = g % half_dim;
  const uint pos = min(position[p.position_offset], p.max_pos) + token;

  const float inv_freq = exp2(-2.0 * float(i) / float(p.head_dim) * log2(p.freq_base));
  const float angle = reduce_angle(float(pos) * p.freq_scale * inv_freq / factors[p.factors_offset + i]);
  const float c = cos(angle);
  const float s = sin(angle);
  const uint first_in_head = p.mode == 2u ? i : 2u * i;
  const uint second_in_head = first_in_head + (p.mode == 2u ? half_dim : 1u);
  const uint row = p.qkv_offset + token * (p.heads + 2u * p.kv_heads) * p.head_dim;
  const uint source = row + head * p.head_dim;
  const float a = qkv[source + first_in_head];
  const float b = qkv[source + second_in_head];
  const float ra = a * c - b * s;
  const float rb = a * s + b * c;
  if (head < p.heads) {
    qkv[source + first_in_head] = ra;
    qkv[source + second_in_head] = rb;
    return;
  }
  const uint kv_head = head - p.heads;
  const uint cache = (pos * p.kv_heads + kv_head) * p.head_dim;
  k_cache[p.k_offset + cache + first_in_head] = ra;
  k_cache[p.k_offset + cache + second_in_head] = rb;
  const uint value = row + (p.heads + p.kv_heads + kv_head) * p.head_dim;
  v_cache[p.v_offset + cache + first_in_head] = qkv[value + first_in_head];
  v_cache[p.v_offset + cache + second_in_head] = qkv[value + second_in_head];
}
