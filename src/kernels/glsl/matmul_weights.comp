// Y = X * W^T with W stored in a weight format (see weights_decode.glsl), dequantized as it is
// read: X is tokens x cols (dense), W rows x cols, Y tokens x rows with row stride ldy; all f32
// but W, accumulation f32. Push constants: kernels/push_constants_weights.hpp
// WeightsMatmulPush. Groups: x = ceil(rows / 16), y = ceil(tokens / 64).
//
// A workgroup owns 16 rows of W and 64 tokens, one token per invocation. Per 32-column unit, the
// invocations decode the 16 rows' unit into shared memory (each quad once) and copy the 64 tokens'
// slice of X there (neighbouring invocations read neighbouring columns: coalesced); then each
// invocation multiplies its token's slice with the 16 decoded rows, reading the weights as
// broadcast vec4s. The dequantization is shared by 64 tokens. Shared memory: 10.5 KiB, within
// Vulkan's guaranteed 16 KiB.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint tokens;
  uint type;
  uint w_offset;  // bytes
  uint x_offset;
  uint y_offset;
  uint ldy;
} p;

#include "weights_decode.glsl"

const uint THREADS = 64;  // tokens per workgroup
const uint ROWS = 16;     // rows of W per workgroup
const uint QUADS = ROWS * UNIT / 4u;
shared vec4 wt[UNIT][ROWS / 4u];   // wt[c][r / 4][r % 4] = W[row0 + r, unit column c]
shared float xs[THREADS][UNIT + 1u];  // +1: invocation t reads row t, spread over the banks

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * ROWS;
  const uint token0 = gl_WorkGroupID.y * THREADS;
  const uint row_bytes = row_bytes_of(p.type, p.cols);
  const uint units = (p.cols + UNIT - 1u) / UNIT;

  vec4 acc[ROWS / 4u];
  for (uint r = 0u; r < ROWS / 4u; ++r) acc[r] = vec4(0.0);
  for (uint u = 0u; u < units; ++u) {
    // Rows and tokens past the edge decode or copy a clamped one (every invocation must reach
    // every barrier); their results are not stored.
    for (uint qd = lid; qd < QUADS; qd += THREADS) {
      const uint r = qd / (UNIT / 4u);
      const uint j = qd % (UNIT / 4u);
      const uint row_byte = p.w_offset + min(row0 + r, p.rows - 1u) * row_bytes;
      const vec4 v = decode_quad(p.type, row_byte, u, j, p.cols);
      for (uint k = 0u; k < 4u; ++k) wt[4u * j + k][r / 4u][r % 4u] = v[k];
    }
    const uint c = u * UNIT + lid % UNIT;
    for (uint t = lid / UNIT; t < THREADS; t += THREADS / UNIT) {
      const uint token = min(token0 + t, p.tokens - 1u);
      xs[t][lid % UNIT] = c < p.cols ? x[p.x_offset + token * p.cols + c] : 0.0;
    }
    barrier();
    for (uint i = 0u; i < UNIT; ++i) {
      const vec4 xv = vec4(xs[lid][i]);
      for (uint r = 0u; r < ROWS / 4u; ++r) acc[r] = fma(wt[i][r], xv, acc[r]);
    }
    barrier();
  }
  const uint token = token0 + lid;
  if (token >= p.tokens) return;
  for (uint r = 0u; r < ROWS; ++r) {
    if (row0 + r < p.rows) y[p.y_offset + token * p.ldy + row0 + r] = acc[r / 4u][r % 4u];
  }
}
