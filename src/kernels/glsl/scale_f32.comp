// y[i] = alpha * x[i]. Push constants: kernels/push_constants.hpp UnaryPush.
#version 450
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

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  y[p.y_offset + i] = p.alpha * x[p.x_offset + i];
}
