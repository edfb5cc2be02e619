// Y = X * W^T with W in a weight format (weights_decode.glsl), the contract of
// matmul_weights.comp (same bindings, same push constants: WeightsMatmulPush) with another
// tiling, for GPUs. Groups: x = ceil(rows / 64), y = ceil(tokens / 64).
//
// A workgroup of 256 invocations owns a 64-row x 64-token tile of Y, each invocation a 4 x 4
// register tile: rows tr + 16 i and tokens tt + 16 j (i, j < 4). Per 32-column unit of W (one
// block of the 32-element formats, a sub-block of the k-quants), the 64 rows' unit is decoded
// once into shared memory as f32 (two quads per invocation) and the 64 tokens' slice of X copied
// beside it; then each invocation reads 4 row quads and 4 token quads per 4 columns and does 64
// multiply-adds. The next unit's weights and X are fetched into registers while this one is
// multiplied (one shared buffer, two barriers per unit).
//
// Shared memory: two tiles of 64 x 32 f32 = 16 KiB, Vulkan's guaranteed minimum. Rows of a tile
// are 8 quads; quad q of row r sits in slot q ^ (r % 8), so that the 8 quads a group of lanes
// stores (one row) and the quads 8 consecutive rows or tokens read (same q) fall in distinct
// banks without padding.
//
// Lanes: within each 32 consecutive invocations, 8 tokens x 4 rows (tt from bits 0-2 and 5 of
// the local id, tr from bits 3-4 and 6-7), so a subgroup of 32 reads 8 X quads and 4 W quads per
// step, all in different banks.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 256) in;

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

const uint THREADS = 256;
const uint TILE = 64;                 // rows of W and tokens per workgroup
const uint QUADS = UNIT / 4u;         // quads per row of a unit: 8
const uint FETCH = TILE * QUADS / THREADS;  // quads of W (and of X) each invocation fetches: 2

shared vec4 ws[TILE * QUADS];  // ws[r * 8 + (q ^ (r % 8))] = W[row0 + r, 32 u + 4 q .. + 3]
shared vec4 xs[TILE * QUADS];  // xs[t * 8 + (q ^ (t % 8))] = X[token0 + t, 32 u + 4 q .. + 3]

uint slot(uint r, uint q) { return r * QUADS + (q ^ (r % 8u)); }

// Quad j of unit u of the tile's row (or token) `r`; rows and tokens past the edge fetch a
// clamped one (every invocation must reach every barrier), whose results are not stored.
vec4 fetch_w(uint row0, uint r, uint u, uint j, uint row_bytes) {
  const uint row_byte = p.w_offset + min(row0 + r, p.rows - 1u) * row_bytes;
  return decode_quad(p.type, row_byte, u, j, p.cols);
}

vec4 fetch_x(uint token0, uint t, uint u, uint j) {
  const uint token = min(token0 + t, p.tokens - 1u);
  const uint c = u * UNIT + 4u * j;
  const uint base = p.x_offset + token * p.cols + c;
  vec4 v = vec4(0.0);
  for (uint k = 0u; k < 4u; ++k) {
    if (c + k < p.cols) v[k] = x[base + k];
  }
  return v;
}

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * TILE;
  const uint token0 = gl_WorkGroupID.y * TILE;
  const uint row_bytes = row_bytes_of(p.type, p.cols);
  const uint units = (p.cols + UNIT - 1u) / UNIT;
  const uint tt = (lid & 7u) | ((lid >> 2u) & 8u);
  const uint tr = ((lid >> 3u) & 3u) | ((lid >> 4u) & 12u);

  vec4 wf[FETCH], xf[FETCH];
  for (uint n = 0u; n < FETCH; ++n) {
    const uint q = lid + n * THREADS;
    wf[n] = fetch_w(row0, q / QUADS, 0u, q % QUADS, row_bytes);
    xf[n] = fetch_x(token0, q / QUADS, 0u, q % QUADS);
  }
  vec4 acc[4];  // acc[i][j] = Y[token tt + 16 j, row tr + 16 i]
  for (uint i = 0u; i < 4u; ++i) acc[i] = vec4(0.0);
  for (uint u = 0u; u < units; ++u) {
    for (uint n = 0u; n < FETCH; ++n) {
      const uint q = lid + n * THREADS;
      ws[slot(q / QUADS, q % QUADS)] = wf[n];
      xs[slot(q / QUADS, q % QUADS)] = xf[n];
    }
    barrier();
    if (u + 1u < units) {
      for (uint n = 0u; n < FETCH; ++n) {
        const uint q = lid + n * THREADS;
        wf[n] = fetch_w(row0, q / QUADS, u + 1u, q % QUADS, row_bytes);
        xf[n] = fetch_x(token0, q / QUADS, u + 1u, q % QUADS);
      }
    }
    for (uint q = 0u; q < QUADS; ++q) {
      vec4 a[4], b[4];
      for (uint i = 0u; i < 4u; ++i) a[i] = ws[slot(tr + 16u * i, q)];
      for (uint j = 0u; j < 4u; ++j) b[j] = xs[slot(tt + 16u * j, q)];
      for (uint k = 0u; k < 4u; ++k) {
        const vec4 bk = vec4(b[0][k], b[1][k], b[2][k], b[3][k]);
        for (uint i = 0u; i < 4u; ++i) acc[i] = fma(vec4(a[i][k]), bk, acc[i]);
      }
    }
    barrier();
  }
  for (uint j = 0u; j < 4u; ++j) {
    const uint token = token0 + tt + 16u * j;
    if (token >= p.tokens) continue;
    for (uint i = 0u; i < 4u; ++i) {
      const uint row = row0 + tr + 16u * i;
      if (row < p.rows) y[p.y_offset + token * p.ldy + row] = acc[i][j];
    }
  }
}
