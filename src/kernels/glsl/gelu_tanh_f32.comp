// y[i] = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), GELU's tanh approximation (Gemma's
// feed-forward activation). Push constants: kernels/push_constants.hpp UnaryPush (alpha unused).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;

// No readonly/writeonly: the op allows y to be the same range as x (in place).
layout(std430, set = 0, binding = 0) buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint n;
  uint x_offset;
  uint y_offset;
  float alpha;
} p;

#include "tanh_safe.glsl"

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  const float v = x[p.x_offset + i];
  const float inner = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  y[p.y_offset + i] = 0.5 * v * (1.0 + tanh_safe(inner));
}
