// out[i, :] = row min(ids[i], table_rows - 1) of a table stored in a weight format (see
// weights_decode.glsl), dequantized to f32: the embedding lookup. An id past the table reads its
// last row (clamped) instead of memory outside it. Push constants:
// kernels/push_constants_weights.hpp WeightsGetRowsPush. Groups: x = count.
//
// The table may be bound in slices (rows [row_first, row_first + row_count)): an id outside the
// bound slice is left to the dispatch that binds its row, so each output row is written once.
#version 450
#extension GL_GOOGLE_include_directive : require
layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
  uint count;
  uint cols;
  uint type;
  uint table_rows;
  uint row_first;
  uint row_count;
  uint w_offset;  // bytes, to row row_first
  uint ids_offset;
  uint out_offset;
} p;

#include "weights_decode.glsl"

const uint THREADS = 64;

void main() {
  const uint i = gl_WorkGroupID.x;
  if (i >= p.count) return;
  const uint id = min(ids[p.ids_offset + i], max(p.table_rows, 1u) - 1u);
  if (id < p.row_first || id - p.row_first >= p.row_count) return;
  const uint row_byte = p.w_offset + (id - p.row_first) * row_bytes_of(p.type, p.cols);
  const uint out_row = p.out_offset + i * p.cols;
  // Neighbouring invocations take neighbouring quads: coalesced reads and writes.
  const uint quads = (p.cols + 3u) / 4u;
  for (uint q = gl_LocalInvocationID.x; q < quads; q += THREADS) {
    const vec4 v = decode_quad(p.type, row_byte, q / 8u, q % 8u, p.cols);
    for (uint k = 0u; k < 4u; ++k) {
      if (4u * q + k < p.cols) out_[out_row + 4u * q + k] = v[k];
    }
  }
}
