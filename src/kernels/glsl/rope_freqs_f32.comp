// RoPE with per-pair frequency factors and a frequency scale, in place on
// x = [tokens][heads][head_dim]: pair i of each head of token t turns by
// (start_pos + t) * freq_scale * freq_base^(-2i / head_dim) / factors[i] (Llama 3's rope_freqs
// tensor; linear rope scaling is freq_scale = 1 / factor). One pair per invocation.
// Push constants: kernels/push_constants_arch.hpp RopeFreqsPush.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(std430, set = 0, binding = 1) readonly buffer F { float factors[]; };

layout(push_constant) uniform Push {
  uint tokens;
  uint heads;
  uint head_dim;
  uint x_offset;
  uint start_pos;
  float freq_base;
  uint mode;  // 0: pairs (2i, 2i + 1); 2: pairs (i, i + head_dim / 2)
  float freq_scale;
  uint factors_offset;
} p;

#include "rope_angle.glsl"

void main() {
  const uint half_dim = p.head_dim / 2;
  const uint g = gl_GlobalInvocationID.x;
  if (g >= p.tokens * p.heads * half_dim) return;
  const uint i = g % half_dim;
  const uint head = g / half_dim;  // token * heads + head index
  const uint token = head / p.heads;

  const float inv_freq = exp2(-2.0 * float(i) / float(p.head_dim) * log2(p.freq_base));
  const float theta = float(p.start_pos + token) * p.freq_scale * inv_freq / factors[p.factors_offset + i];
  const float angle = reduce_angle(theta);
  const float c = cos(angle);
  const float s = sin(angle);

  const uint first = p.x_offset + head * p.head_dim + (p.mode == 2u ? i : 2u * i);
  const uint second = first + (p.mode == 2u ? half_dim : 1u);
  const float a = x[first];
  const float b = x[second];
  x[first] = a * c - b * s;
  x[second] = a * s + b * c;
}
