// C = A * B with f16 A and B (16-bit storage only; the arithmetic is f32), f32 accumulation and
// f32 C; A is m x k, B is k x n, C is m x n, all row-major with leading dimensions lda/ldb/ldc.
// Push constants: kernels/push_constants.hpp MatmulPush. Groups: x = ceil(n / 64),
// y = ceil(m / 64).
//
// Register blocking: a workgroup owns a 64x64 tile of C and each of its 16x16 invocations keeps
// a 4x4 block of that tile in registers, reading A and B straight from memory. Invocation (tx, ty)
// takes rows ty + 16*i and columns tx + 16*j, so neighbouring invocations read neighbouring
// columns of B (coalesced on a GPU) and share the rows of A. No shared memory: on lavapipe its
// barriers cost more than the reuse saves, and the cache already serves the reuse.
#version 450
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 256) in;

layout(std430, set = 0, binding = 0) readonly buffer A { float16_t a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float16_t b[]; };
layout(std430, set = 0, binding = 2) buffer C { float c[]; };

layout(push_constant) uniform Push {
  uint m;
  uint n;
  uint k;
  uint lda;
  uint ldb;
  uint ldc;
  uint a_offset;
  uint b_offset;
  uint c_offset;
  uint accumulate;  // 1: C += A * B (the op splits a long k into several dispatches)
} p;

const uint TILE = 64;
const uint SIDE = 16;  // invocations per tile side
const uint BLOCK = 4;  // rows and columns per invocation

void main() {
  const uint tx = gl_LocalInvocationID.x % SIDE;
  const uint ty = gl_LocalInvocationID.x / SIDE;
  const uint row0 = gl_WorkGroupID.y * TILE + ty;
  const uint col0 = gl_WorkGroupID.x * TILE + tx;
  // An invocation whose every row or every column lies past the edge has nothing to store.
  // Leaving early matters for thin products (a few rows of A, as in decoding a few tokens).
  if (row0 >= p.m || col0 >= p.n) return;

  // Rows and columns past the edge read the last valid one (clamped) instead of branching in
  // the inner loop; their results are simply not stored.
  uint a_row[BLOCK];
  uint b_col[BLOCK];
  for (uint i = 0; i < BLOCK; ++i) {
    a_row[i] = p.a_offset + min(row0 + SIDE * i, p.m - 1) * p.lda;
    b_col[i] = p.b_offset + min(col0 + SIDE * i, p.n - 1);
  }

  float acc[BLOCK][BLOCK];
  for (uint i = 0; i < BLOCK; ++i) {
    for (uint j = 0; j < BLOCK; ++j) acc[i][j] = 0.0;
  }
  uint b_row = 0;
  for (uint kk = 0; kk < p.k; ++kk, b_row += p.ldb) {
    float av[BLOCK];
    float bv[BLOCK];
    for (uint i = 0; i < BLOCK; ++i) av[i] = float(a[a_row[i] + kk]);
    for (uint j = 0; j < BLOCK; ++j) bv[j] = float(b[b_col[j] + b_row]);
    for (uint i = 0; i < BLOCK; ++i) {
      for (uint j = 0; j < BLOCK; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
  }

  for (uint i = 0; i < BLOCK; ++i) {
    const uint row = row0 + SIDE * i;
    if (row >= p.m) break;
    for (uint j = 0; j < BLOCK; ++j) {
      const uint col = col0 + SIDE * j;
      if (col >= p.n) break;
      const uint ci = p.c_offset + row * p.ldc + col;
      c[ci] = p.accumulate != 0 ? c[ci] + acc[i][j] : acc[i][j];
    }
  }
}
