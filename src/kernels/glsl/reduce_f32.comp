// One level of a sum or max reduction: workgroup g combines the 4096 elements
// x[g * 4096, (g + 1) * 4096) (fewer at the end) into out[g]. The op runs levels until one value
// is left. Push constants: kernels/push_constants.hpp ReducePush. Groups: x = ceil(n / 4096).
//
// Each invocation first folds 16 elements strided by the workgroup size (neighbours read
// neighbours), then the 256 partial values meet in a shared-memory tree. No atomics: the result
// does not depend on scheduling, so it is the same on every run.
#version 450
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
  uint n;
  uint x_offset;
  uint out_offset;
  uint op;  // 0: sum, 1: max
} p;

const uint THREADS = 256;
const uint ITEMS = 16;  // per invocation
const uint OP_SUM = 0;
shared float partial[THREADS];

float combine(float a, float b) { return p.op == OP_SUM ? a + b : max(a, b); }

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint base = gl_WorkGroupID.x * THREADS * ITEMS;
  float acc = p.op == OP_SUM ? 0.0 : uintBitsToFloat(0xff800000u);  // the identity: 0 or -inf
  for (uint j = 0; j < ITEMS; ++j) {
    const uint i = base + j * THREADS + lid;
    if (i < p.n) acc = combine(acc, x[p.x_offset + i]);
  }
  partial[lid] = acc;
  barrier();
  for (uint half_ = THREADS / 2; half_ > 0; half_ /= 2) {
    if (lid < half_) partial[lid] = combine(partial[lid], partial[lid + half_]);
    barrier();
  }
  if (lid == 0) out_[p.out_offset + gl_WorkGroupID.x] = partial[0];
}
