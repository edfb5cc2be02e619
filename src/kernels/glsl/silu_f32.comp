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
  // sigmoid(v) from e = exp(-|v|) <= 1, so that no exp overflows and every divisor lies in
  // [1, 2]: Vulkan leaves division undefined for divisors beyond 2^126, and the plain
  // v / (1 + exp(-v)) gives -0 on NVIDIA for v = -88, where the true result is -5e-37.
  const float e = exp(-abs(v));
  const float sigmoid = v >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  y[p.y_offset + i] = v * sigmoid;
}
