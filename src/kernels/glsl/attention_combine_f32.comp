// The second pass of split attention: each row's partials (acc, m, l) over disjoint chunks of
// its positions -> out[row] = sum_s exp(m_s - M) acc_s / sum_s exp(m_s - M) l_s, M = max_s m_s.
// Empty chunks (l = 0, m = -inf) are skipped. Push constants: kernels/push_constants_attention.hpp
// AttentionCombinePush. Groups: x = rows.
#version 450
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer Part { float part[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint splits;
  uint head_dim;
  uint part_offset;
  uint out_offset;
} p;

const uint THREADS = 128;

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= p.rows) return;
  const uint lid = gl_LocalInvocationID.x;
  const uint dim = p.head_dim;
  const uint stride = dim + 2;
  const uint base = p.part_offset + row * p.splits * stride;

  // Every invocation folds the few (m, l) pairs itself: cheaper than sharing them.
  float top = uintBitsToFloat(0xff800000u);
  for (uint s = 0; s < p.splits; ++s) top = max(top, part[base + s * stride + dim]);
  float total = 0.0;
  for (uint s = 0; s < p.splits; ++s) {
    const float l = part[base + s * stride + dim + 1];
    if (l > 0.0) total += exp(part[base + s * stride + dim] - top) * l;
  }
  const float inv_total = 1.0 / total;
  for (uint d = lid; d < dim; d += THREADS) {
    float acc = 0.0;
    for (uint s = 0; s < p.splits; ++s) {
      const uint at = base + s * stride;
      if (part[at + dim + 1] > 0.0) acc += exp(part[at + dim] - top) * part[at + d];
    }
    out_[p.out_offset + row * dim + d] = acc * inv_total;
  }
}
