// y[i] = x[i] / (1 + exp(-x[i])). Push constants: kernels/push_constants.hpp UnaryPush (alpha
// unused).
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
  const float v = x[p.x_offset + i];
  // For v < -88, exp(-v) is +inf and the quotient is -0: the correct limit, no NaN.
  y[p.y_offset + i] = v / (1.0 + exp(-v));
}
