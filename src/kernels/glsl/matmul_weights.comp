// Y = X * W^T with W stored in a weight format (see weights_decode.glsl), dequantized as it is
// read: X is tokens x cols (dense), W rows x cols, Y tokens x rows with row stride ldy; all f32
// but W, accumulation f32. Push constants: kernels/push_constants_weights.hpp
// WeightsMatmulPush. Groups: x = ceil(rows / 4), y = ceil(tokens / 64).
//
// A workgroup owns 4 rows of W and 64 tokens. Per chunk of 512 columns, its 64 invocations
// decode 4 x 16 units of W into shared memory (each unit once), then each invocation multiplies
// its token's slice of X with the 4 decoded rows: the dequantization is shared by 64 tokens.
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

const uint THREADS = 64;
const uint ROWS = 4;
const uint CHUNK_UNITS = 16;  // ROWS * CHUNK_UNITS == THREADS: one unit per invocation
const uint CHUNK = CHUNK_UNITS * UNIT;
shared float tile[ROWS][CHUNK];

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * ROWS;
  const uint token = gl_WorkGroupID.y * THREADS + lid;
  // Invocations past the last token or row work on a clamped one (every invocation must reach
  // every barrier) and store nothing.
  const uint x_row = p.x_offset + min(token, p.tokens - 1u) * p.cols;
  const uint row_bytes = row_bytes_of(p.type, p.cols);
  const uint units = (p.cols + UNIT - 1u) / UNIT;
  const uint my_row = lid / CHUNK_UNITS;
  const uint my_unit = lid % CHUNK_UNITS;
  const uint my_row_byte = p.w_offset + min(row0 + my_row, p.rows - 1u) * row_bytes;

  float acc[ROWS];
  for (uint r = 0u; r < ROWS; ++r) acc[r] = 0.0;
  for (uint u0 = 0u; u0 < units; u0 += CHUNK_UNITS) {
    const uint type = u0 + my_unit < units ? p.type : 0xFFFFFFFFu;  // past the row: zeros
    for (uint j = 0u; j < UNIT / 4u; ++j) {
      const vec4 v = decode_quad(type, my_row_byte, u0 + my_unit, j, p.cols);
      for (uint k = 0u; k < 4u; ++k) tile[my_row][my_unit * UNIT + 4u * j + k] = v[k];
    }
    barrier();
    const uint c0 = u0 * UNIT;
    const uint n = min(CHUNK, p.cols - c0);
    for (uint i = 0u; i < n; ++i) {
      const float xv = x[x_row + c0 + i];
      for (uint r = 0u; r < ROWS; ++r) acc[r] = fma(tile[r][i], xv, acc[r]);
    }
    barrier();
  }
  if (token >= p.tokens) return;
  for (uint r = 0u; r < ROWS; ++r) {
    if (row0 + r < p.rows) y[p.y_offset + token * p.ldy + row0 + r] = acc[r];
  }
}
