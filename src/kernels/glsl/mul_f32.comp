// out[i] = a[i] * b[i]. Push constants: kernels/push_constants.hpp BinaryPush.
#version 450
layout(local_size_x = 256) in;

// No readonly/writeonly: the op allows out to be the same range as a or b (in place).
layout(std430, set = 0, binding = 0) buffer A { float a[]; };
layout(std430, set = 0, binding = 1) buffer B { float b[]; };
layout(std430, set = 0, binding = 2) buffer Out { float out_[]; };

layout(push_constant) uniform Push {
  uint n;
  uint a_offset;
  uint b_offset;
  uint out_offset;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  out_[p.out_offset + i] = a[p.a_offset + i] * b[p.b_offset + i];
}
