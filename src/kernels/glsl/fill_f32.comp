// out[i] = value. Push constants: kernels/push_constants.hpp FillPush.
#version 450
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
  uint n;
  uint out_offset;
  float value;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i >= p.n) return;
  out_[p.out_offset + i] = p.value;
}
