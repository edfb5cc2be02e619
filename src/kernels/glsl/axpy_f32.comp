// y[i] = alpha * x[i] + y[i]. Push constants: kernels/push_constants.hpp UnaryPush.
#version 450
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint n;
  uint x_offset;
  uint y_offset;
  float alpha;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  const uint yi = p.y_offset + i;
  y[yi] = fma(p.alpha, x[p.x_offset + i], y[yi]);
}
