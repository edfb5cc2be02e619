// Rotary position embedding, in place on x = [tokens][heads][head_dim]: pair i of each head of
// token t turns by angle (start_pos + t) * freq_base^(-2i / head_dim). One pair per invocation.
// Push constants: kernels/push_constants_attention.hpp RopePush. Groups: x = ceil(tokens * heads
// * (head_dim / 2) / 256).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;

// Read and written by the same invocation: no readonly/writeonly.
layout(std430, set = 0, binding = 0) buffer X { float x[]; };

layout(push_constant) uniform Push {
  uint tokens;
  uint heads;
  uint head_dim;
  uint x_offset;
  uint start_pos;
  float freq_base;
  uint mode;  // 0: pairs (2i, 2i + 1); 2: pairs (i, i + head_dim / 2)
} p;

#include "rope_angle.glsl"

void main() {
  const uint half_dim = p.head_dim / 2;
  const uint pairs = p.tokens * p.heads * half_dim;
  const uint g = gl_GlobalInvocationID.x;
  if (g >= pairs) return;
  const uint i = g % half_dim;
  const uint head = g / half_dim;  // token * heads + head index
  const uint token = head / p.heads;

  const vec2 rotation = rope_rotation(p.start_pos + token, i, p.head_dim, p.freq_base);
  const float c = rotation.x;
  const float s = rotation.y;

  const uint first = p.x_offset + head * p.head_dim + (p.mode == 2u ? i : 2u * i);
  const uint second = first + (p.mode == 2u ? half_dim : 1u);
  const float a = x[first];
  const float b = x[second];
  x[first] = a * c - b * s;
  x[second] = a * s + b * c;
}
