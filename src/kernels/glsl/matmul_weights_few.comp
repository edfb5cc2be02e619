// Y = X * W^T for a few tokens (a continuous-batching decode step: one row of X per sequence),
// W in a weight format (weights_decode.glsl) dequantized as it is read: X is tokens x cols
// (dense, f32, read as vec4s: cols and x_offset multiples of 4), Y tokens x rows with row stride
// ldy. Push constants: kernels/push_constants_weights.hpp WeightsMatmulPush (the contract of
// matmul_weights); workgroup shape and groups: kernels/weight_few_kernels.hpp.
//
// matmul_weights (64 tokens x 16 rows per workgroup, through shared memory and barriers) is
// built for prefill; for 2-16 tokens most of its work is padding. Here, as in the decode
// matvec (matvec_fused.comp, subgroup per row), a subgroup owns ROWS_PER_SUBGROUP rows and its
// lanes walk their quads (4 elements) of those rows with consecutive lanes on consecutive words
// (coalesced); each weight quad is decoded once and met with the TOKENS rows of X, whose sums
// stay in registers until one subgroupAdd per (row, token) at the end: no shared memory, no
// barrier. X is small (a few rows of cols floats) and is read from the caches once per pair of
// rows. Workgroup y covers tokens [y * TOKENS, y * TOKENS + TOKENS); a partial last group reads
// the last token again and does not store it.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { vec4 x4[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint tokens;
  uint type;
  uint w_offset;  // bytes
  uint x_offset;  // f32 elements, a multiple of 4
  uint y_offset;
  uint ldy;
} p;

#include "weights_decode.glsl"

// Specialization constants (KernelSpec::constants): the weight type (ANY: p.type at run time)
// and the tokens per workgroup (1 to MAX_TOKENS), so that the compiler unrolls the token loops
// and keeps exactly that many sums per row in registers.
const uint ANY = 0xFFFFFFFFu;
layout(constant_id = 0) const uint FIXED_TYPE = ANY;
layout(constant_id = 1) const uint TOKENS = 8u;

const uint MAX_TOKENS = 8u;
const uint ROWS_PER_SUBGROUP = 2u;  // x is read once for both
const uint ROWS_PER_GROUP = 8u;     // kFewRowsPerGroup: any subgroup size covers them (loop below)

void main() {
  const uint type = FIXED_TYPE == ANY ? p.type : FIXED_TYPE;
  const uint row_bytes = row_bytes_of(type, p.cols);
  const uint quads = p.cols / 4u;
  const uint token0 = gl_WorkGroupID.y * TOKENS;
  uint x_row[MAX_TOKENS];  // the vec4 index of each token's row of X
  for (uint t = 0u; t < TOKENS; ++t) x_row[t] = (p.x_offset + min(token0 + t, p.tokens - 1u) * p.cols) / 4u;

  for (uint i = gl_SubgroupID * ROWS_PER_SUBGROUP; i < ROWS_PER_GROUP; i += gl_NumSubgroups * ROWS_PER_SUBGROUP) {
    const uint r0 = gl_WorkGroupID.x * ROWS_PER_GROUP + i;
    if (r0 >= p.rows) break;  // uniform across the subgroup
    const uint r1 = min(r0 + 1u, p.rows - 1u);  // an odd last row is computed twice, stored once
    const uint row0 = p.w_offset + r0 * row_bytes;
    const uint row1 = p.w_offset + r1 * row_bytes;
    float acc0[MAX_TOKENS], acc1[MAX_TOKENS];
    for (uint t = 0u; t < TOKENS; ++t) {
      acc0[t] = 0.0;
      acc1[t] = 0.0;
    }
    for (uint q = gl_SubgroupInvocationID; q < quads; q += gl_SubgroupSize) {
      const vec4 w0 = decode_quad(type, row0, q / 8u, q % 8u, p.cols);
      const vec4 w1 = decode_quad(type, row1, q / 8u, q % 8u, p.cols);
      for (uint t = 0u; t < TOKENS; ++t) {
        const vec4 xv = x4[x_row[t] + q];
        acc0[t] = fma(w0.x, xv.x, fma(w0.y, xv.y, fma(w0.z, xv.z, fma(w0.w, xv.w, acc0[t]))));
        acc1[t] = fma(w1.x, xv.x, fma(w1.y, xv.y, fma(w1.z, xv.z, fma(w1.w, xv.w, acc1[t]))));
      }
    }
    for (uint t = 0u; t < TOKENS; ++t) {
      const float s0 = subgroupAdd(acc0[t]);
      const float s1 = subgroupAdd(acc1[t]);
      if (subgroupElect() && token0 + t < p.tokens) {
        const uint at = p.y_offset + (token0 + t) * p.ldy + r0;
        y[at] = s0;
        if (r0 + 1u < p.rows) y[at + 1u] = s1;
      }
    }
  }
}
