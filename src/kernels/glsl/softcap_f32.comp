// y[i] = alpha * tanh(x[i] / alpha): Gemma 2's soft-capping of the final logits. Push constants:
// kernels/push_constants.hpp UnaryPush (alpha: the cap, > 0).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;

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
  y[p.y_offset + i] = p.alpha * tanh_safe(x[p.x_offset + i] / p.alpha);
}
