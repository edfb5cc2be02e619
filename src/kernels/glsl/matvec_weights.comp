// y = W * x with W stored in a weight format (kernels/weight_type.hpp; decoded by
// weights_decode.glsl), dequantized as it is read; x and y are f32, accumulation is f32.
// Push constants: kernels/push_constants_weights.hpp WeightsMatvecPush. Groups: x = rows.
//
// One workgroup per row, as matvec_f32.comp: f32, f16 and bf16 rows are strided element by element
// (neighbours read neighbouring elements), quantized rows by quads of 4 elements. Partial sums
// meet in a shared-memory tree (no subgroup operations).
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint cols;
  uint type;
  uint w_offset;  // bytes
  uint x_offset;
  uint y_offset;
} p;

#include "weights_decode.glsl"

const uint THREADS = 128;
shared float partial[THREADS];

void main() {
  const uint row = gl_WorkGroupID.x;
  if (row >= p.rows) return;  // uniform across the workgroup: no barrier is skipped by some only
  const uint lid = gl_LocalInvocationID.x;
  const uint row_byte = p.w_offset + row * row_bytes_of(p.type, p.cols);
  float acc = 0.0;
  if (is_plain(p.type)) {
    for (uint c = lid; c < p.cols; c += THREADS) {
      acc = fma(load_plain(p.type, row_byte, c), x[p.x_offset + c], acc);
    }
  } else {
    // Eight neighbouring invocations share a unit, one quad (4 elements) each, so that a
    // subgroup reads consecutive words of W and of x (coalesced), and the block header is one
    // broadcast load. A vec4 accumulator keeps four independent fma chains.
    vec4 acc4 = vec4(0.0);
    const uint quads = p.cols / 4u;
    for (uint q = lid; q < quads; q += THREADS) {
      const uint xi = p.x_offset + 4u * q;
      const vec4 xv = vec4(x[xi], x[xi + 1u], x[xi + 2u], x[xi + 3u]);
      acc4 = fma(decode_quad(p.type, row_byte, q / 8u, q % 8u, p.cols), xv, acc4);
    }
    acc = (acc4.x + acc4.y) + (acc4.z + acc4.w);
  }
  partial[lid] = acc;
  barrier();
  for (uint half_ = THREADS / 2; half_ > 0; half_ /= 2) {
    if (lid < half_) partial[lid] += partial[lid + half_];
    barrier();
  }
  if (lid == 0) y[p.y_offset + row] = partial[0];
}
