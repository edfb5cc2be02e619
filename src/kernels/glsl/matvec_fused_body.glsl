// The decode matvec of a transformer layer, fused: y = W x for up to three weight matrices
// ("segments") packed in one buffer (Q, K and V; gate and up), with the RMSNorm of x folded in,
// SwiGLU of two segments folded in, and the residual add folded in. Push constants:
// kernels/push_constants_weights.hpp FusedMatvecPush, which states the contract.
//
// Work is cut in 32-element units of a row (a block of the 32-element formats, a k-quant
// sub-block). Two
// mappings of rows onto invocations, one source:
// - matvec_fused.comp (GPUs): one subgroup per row; eight neighbouring lanes share a unit, one
//   quad (4 elements, one 32-bit word of q8_0) each, so that a subgroup reads consecutive words
//   (coalesced) and a block header is one broadcast load; the partial sums meet in one
//   subgroupAdd (no shared memory, no barrier). rows_per_group is local size / subgroup size,
//   set by the host; the loop below stays correct for any subgroup size.
// - matvec_fused_rows.comp (ROW_PER_INVOCATION; CPU-like devices such as lavapipe, where
//   invocations are SIMD lanes of one core): one invocation per row, so that x is read at the
//   same address by every lane (a broadcast) and nothing is reduced across lanes.
// The type and the norm are branched on once per row, outside the unit loop, with constant
// arguments, so that the compiler specializes each loop.
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer W { uint w[]; };
layout(std430, set = 0, binding = 1) readonly buffer X { float x[]; };
layout(std430, set = 0, binding = 2) buffer Y { float y[]; };           // read when accumulating
layout(std430, set = 0, binding = 3) readonly buffer G { float g[]; };  // the norm's weight

layout(push_constant) uniform Push {
  uint cols;
  uint rows_per_group;
  uint flags;
  float eps;
  uint x_offset;
  uint y_offset;
  uint g_offset;
  uint segments;
  uint rows0;
  uint rows1;
  uint rows2;
  uint type0;
  uint type1;
  uint type2;
  uint w_offset0;  // bytes
  uint w_offset1;
  uint w_offset2;
} p;

// Specialization constants (KernelSpec::constants): the one weight type of every segment, and
// whether the norm is folded in, so that the compiler drops every other decoder and branch
// (on lavapipe a branch on a uniform value still costs both sides). ANY: read from the push
// constants at run time.
const uint ANY = 0xFFFFFFFFu;
layout(constant_id = 0) const uint FIXED_TYPE = ANY;
layout(constant_id = 1) const uint FIXED_NORM = ANY;  // 0 or 1

const uint FLAG_NORM = 1u;        // x is replaced by rms_norm(x) * g
const uint FLAG_ACCUMULATE = 2u;  // y += W x instead of y = W x
const uint FLAG_SWIGLU = 4u;      // two segments of equal rows: y = silu(W0 x) * (W1 x)

#include "weights_decode.glsl"

// x'[c .. c + 3]: x, times the norm weight when the norm is folded in (its scale comes last).
vec4 xq(uint c, bool norm) {
  const uint i = p.x_offset + c;
  const vec4 v = vec4(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
  if (!norm) return v;
  const uint k = p.g_offset + c;
  return v * vec4(g[k], g[k + 1u], g[k + 2u], g[k + 3u]);
}

// The same with elements past cols read as 0 (f32 and f16 rows end inside a unit).
vec4 xq_checked(uint c, bool norm) {
  vec4 v = vec4(0.0);
  for (uint k = 0u; k < 4u; ++k) {
    if (c + k < p.cols) v[k] = x[p.x_offset + c + k] * (norm ? g[p.g_offset + c + k] : 1.0);
  }
  return v;
}

float sum4(vec4 v) { return (v.x + v.y) + (v.z + v.w); }

vec4 signed_bytes(uint q) { return vec4((ivec4(int(q)) << ivec4(24, 16, 8, 0)) >> 24); }

float unit_q8_0(uint row, uint u, bool norm) {
  const uint block = row + u * 34u;
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) {
    acc = fma(signed_bytes(load_u32(block + 2u + 4u * j)), xq(u * UNIT + 4u * j, norm), acc);
  }
  return load_f16(block) * sum4(acc);
}

float unit_q4_0(uint row, uint u, bool norm) {
  const uint block = row + u * 18u;
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 4u; ++j) {
    const uvec4 q = uvec4(load_u32(block + 2u + 4u * j)) >> BYTE_SHIFTS;
    acc = fma(vec4(q & 0xFu) - 8.0, xq(u * UNIT + 4u * j, norm), acc);
    acc = fma(vec4((q >> 4u) & 0xFu) - 8.0, xq(u * UNIT + 16u + 4u * j, norm), acc);
  }
  return load_f16(block) * sum4(acc);
}

// Sub-block s = u % 8 of a q4_k or q5_k (fifth) super-block: d * sc * sum(q x) - dmin * m * sum(x)
// (layouts: quad_k_min in weights_decode.glsl).
float unit_k_min(uint row, uint u, bool norm, bool fifth) {
  const uint block = row + (u / 8u) * (fifth ? 176u : 144u);
  const uint s = u % 8u;
  const uvec2 sm = q4_k_scale_min(block, s);
  const uint quants = block + (fifth ? 48u : 16u) + 32u * (s / 2u);
  const uint shift = (s % 2u) * 4u;
  vec4 acc = vec4(0.0);
  vec4 xsum = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) {
    const vec4 xv = xq(u * UNIT + 4u * j, norm);
    uvec4 q = (uvec4(w[(quants >> 2) + j]) >> (BYTE_SHIFTS + shift)) & 0xFu;
    if (fifth) q |= ((uvec4(w[((block + 16u) >> 2) + j]) >> (BYTE_SHIFTS + s)) & 1u) << 4;
    acc = fma(vec4(q), xv, acc);
    xsum += xv;
  }
  return load_f16(block) * float(sm.x) * sum4(acc) - load_f16(block + 2u) * float(sm.y) * sum4(xsum);
}

// The other 32-element formats (q4_1, q5_0, q5_1, iq4_nl), quad by quad through decode_quad.
float unit_quads(uint type, uint row, uint u, bool norm) {
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) {
    acc = fma(decode_quad(type, row, u, j, p.cols), xq(u * UNIT + 4u * j, norm), acc);
  }
  return sum4(acc);
}

// Unit u covers elements 128 n + 32 g + l of its super-block (see weights_decode.glsl).
float unit_q6_k(uint row, uint u, bool norm) {
  const uint block = row + (u / 8u) * 210u;
  const uint n = (u % 8u) / 4u;
  const uint gq = u % 4u;
  const uint lo_base = block + 64u * n + 32u * (gq % 2u);
  const uint hi_base = block + 128u + 32u * n;
  const uint lo_shift = gq < 2u ? 0u : 4u;
  vec4 acc0 = vec4(0.0);
  vec4 acc1 = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) {
    const uvec4 lo = (uvec4(load_u32(lo_base + 4u * j)) >> (BYTE_SHIFTS + lo_shift)) & 0xFu;
    const uvec4 hi = (uvec4(load_u32(hi_base + 4u * j)) >> (BYTE_SHIFTS + 2u * gq)) & 3u;
    const vec4 q = vec4(ivec4(lo | (hi << 4)) - 32);
    if (j < 4u) {
      acc0 = fma(q, xq(u * UNIT + 4u * j, norm), acc0);
    } else {
      acc1 = fma(q, xq(u * UNIT + 4u * j, norm), acc1);
    }
  }
  const uint scales = block + 192u + 8u * n + 2u * gq;
  return load_f16(block + 208u) *
         (float(load_i8(scales)) * sum4(acc0) + float(load_i8(scales + 1u)) * sum4(acc1));
}

float unit_plain(uint type, uint row, uint u, bool norm) {
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) {
    acc = fma(quad_plain(type, row, u, j, p.cols), xq_checked(u * UNIT + 4u * j, norm), acc);
  }
  return sum4(acc);
}

// Units first, first + step, ... of the row at byte `row` against x'. Called with constant
// `type` and `norm` so that each loop is compiled for one format.
float units_dot(uint type, uint row, uint first, uint step, bool norm) {
  const uint units = (p.cols + UNIT - 1u) / UNIT;
  float acc = 0.0;
  for (uint u = first; u < units; u += step) {
    if (type == WT_Q8_0) acc += unit_q8_0(row, u, norm);
    else if (type == WT_Q4_0) acc += unit_q4_0(row, u, norm);
    else if (type == WT_Q4_K) acc += unit_k_min(row, u, norm, false);
    else if (type == WT_Q5_K) acc += unit_k_min(row, u, norm, true);
    else if (type == WT_Q6_K) acc += unit_q6_k(row, u, norm);
    else if (is_plain(type)) acc += unit_plain(type, row, u, norm);
    else acc += unit_quads(type, row, u, norm);
  }
  return acc;
}

// One call per type with the type a constant, so that each copy of the loop holds one decoder.
// A specialized variant calls its own type's loop only. The unspecialized kernel (segments of
// mixed types) covers the GENERIC_TYPES listed below, as ops_weights.cpp's kGenericFusedTypes:
// lavapipe took 14 s to build both mappings of it for these six types, about twice that with
// q5_k added and 66 s for all twelve (2-core VM); the ops split other mixes into one
// specialized dispatch per segment.
// Unknown types never get here (the ops validate the type on the host): 0.
float units_dot_typed(uint type, uint row, uint first, uint step, bool norm) {
  if (FIXED_TYPE != ANY) return units_dot(FIXED_TYPE, row, first, step, norm);
  switch (type) {  // GENERIC_TYPES
    case WT_F32: return units_dot(WT_F32, row, first, step, norm);
    case WT_F16: return units_dot(WT_F16, row, first, step, norm);
    case WT_Q4_0: return units_dot(WT_Q4_0, row, first, step, norm);
    case WT_Q8_0: return units_dot(WT_Q8_0, row, first, step, norm);
    case WT_Q4_K: return units_dot(WT_Q4_K, row, first, step, norm);
    case WT_Q6_K: return units_dot(WT_Q6_K, row, first, step, norm);
    default: return 0.0;
  }
}

// The norm a constant too.
float units_dot_of(uint type, uint row, uint first, uint step, bool norm) {
  return norm ? units_dot_typed(type, row, first, step, true) : units_dot_typed(type, row, first, step, false);
}

float squares(uint first, uint step) {
  const uint units = (p.cols + UNIT - 1u) / UNIT;
  vec4 acc = vec4(0.0);
  for (uint u = first; u < units; u += step) {
    for (uint j = 0u; j < 8u; ++j) {
      const vec4 v = xq_checked(u * UNIT + 4u * j, false);
      acc = fma(v, v, acc);
    }
  }
  return sum4(acc);
}

#ifdef ROW_PER_INVOCATION
float row_total(float v) { return v; }
// The whole row, unit by unit (each unit's block header decoded once).
float lane_share(uint type, uint row, bool norm) { return units_dot_of(type, row, 0u, 1u, norm); }
float lane_squares() { return squares(0u, 1u); }
#else
float row_total(float v) { return subgroupAdd(v); }

// The norm's sum of squares of this lane's quads, left by the last quads_dot with the norm:
// the dot reads x anyway, so the squares cost no pass of their own (a separate pass, even
// coalesced, left the norm-folded matvecs 2.5x slower per byte than the others on an H100).
float lane_sq = 0.0;

// Quads lane, lane + subgroup size, ... of the row (quad q: elements 4q .. 4q + 3).
float quads_dot(uint type, uint row, bool norm) {
  const uint quads = (p.cols + UNIT - 1u) / UNIT * 8u;
  const bool plain = is_plain(type);
  vec4 acc = vec4(0.0);
  vec4 sq = vec4(0.0);
  for (uint q = gl_SubgroupInvocationID; q < quads; q += gl_SubgroupSize) {
    const vec4 xr = plain ? xq_checked(4u * q, false) : xq(4u * q, false);
    vec4 xv = xr;
    if (norm) {
      sq = fma(xr, xr, sq);
      const uint k = p.g_offset + 4u * q;
      xv = plain ? xq_checked(4u * q, true) : xr * vec4(g[k], g[k + 1u], g[k + 2u], g[k + 3u]);
    }
    acc = fma(decode_quad(type, row, q / 8u, q % 8u, p.cols), xv, acc);
  }
  if (norm) lane_sq = sum4(sq);
  return sum4(acc);
}

// As units_dot_typed: one call per type, the type and the norm constants.
float quads_dot_typed(uint type, uint row, bool norm) {
  if (FIXED_TYPE != ANY) return quads_dot(FIXED_TYPE, row, norm);
  switch (type) {  // GENERIC_TYPES
    case WT_F32: return quads_dot(WT_F32, row, norm);
    case WT_F16: return quads_dot(WT_F16, row, norm);
    case WT_Q4_0: return quads_dot(WT_Q4_0, row, norm);
    case WT_Q8_0: return quads_dot(WT_Q8_0, row, norm);
    case WT_Q4_K: return quads_dot(WT_Q4_K, row, norm);
    case WT_Q6_K: return quads_dot(WT_Q6_K, row, norm);
    default: return 0.0;
  }
}

float lane_share(uint type, uint row, bool norm) {
  return norm ? quads_dot_typed(type, row, true) : quads_dot_typed(type, row, false);
}
#endif

uint seg_rows(uint s) { return s == 0u ? p.rows0 : (s == 1u ? p.rows1 : p.rows2); }
uint seg_type(uint s) { return s == 0u ? p.type0 : (s == 1u ? p.type1 : p.type2); }
uint seg_offset(uint s) { return s == 0u ? p.w_offset0 : (s == 1u ? p.w_offset1 : p.w_offset2); }

// y for row r of segment `seg` (and of segment 1 with SwiGLU); `scale` is the norm's.
float row_value(uint seg, uint r, bool norm, bool swiglu, float scale) {
  const uint type = FIXED_TYPE == ANY ? seg_type(seg) : FIXED_TYPE;
  const uint up_type = FIXED_TYPE == ANY ? p.type1 : FIXED_TYPE;
  float value = row_total(lane_share(type, seg_offset(seg) + r * row_bytes_of(type, p.cols), norm));
#ifndef ROW_PER_INVOCATION
  // The norm's scale from the squares that dot just summed (the row mapping passes it in).
  if (norm) scale = inversesqrt(row_total(lane_sq) / float(p.cols) + p.eps);
#endif
  value *= scale;
  if (swiglu) {
    const float up = scale * row_total(lane_share(up_type, p.w_offset1 + r * row_bytes_of(up_type, p.cols), norm));
    value = value / (1.0 + exp(-value)) * up;
  }
  return value;
}

void main() {
  const uint rpg = p.rows_per_group;
  const bool swiglu = (p.flags & FLAG_SWIGLU) != 0u;
  const bool norm = FIXED_NORM == ANY ? (p.flags & FLAG_NORM) != 0u : FIXED_NORM == 1u;
  // Workgroups are laid out segment after segment (ceil(rows / rpg) each), so one workgroup
  // reads one segment; with SwiGLU only segment 0's rows are counted.
  uint group = gl_WorkGroupID.x;
  uint seg = 0u;
  uint out_base = 0u;
  const uint last_seg = swiglu ? 0u : clamp(p.segments, 1u, 3u) - 1u;
  while (seg < last_seg && group >= (seg_rows(seg) + rpg - 1u) / rpg) {
    group -= (seg_rows(seg) + rpg - 1u) / rpg;
    out_base += seg_rows(seg);
    ++seg;
  }
  const uint rows = seg_rows(seg);
#ifdef ROW_PER_INVOCATION
  const uint first_row = gl_LocalInvocationID.x;
  const uint row_step = gl_WorkGroupSize.x;
  const bool writer = true;
#else
  const uint first_row = gl_SubgroupID;
  const uint row_step = gl_NumSubgroups;
  const bool writer = subgroupElect();
#endif
  float scale = 1.0;
#ifdef ROW_PER_INVOCATION
  if (norm) scale = inversesqrt(row_total(lane_squares()) / float(p.cols) + p.eps);
#endif
  for (uint i = first_row; i < rpg; i += row_step) {
    const uint r = group * rpg + i;
    if (r >= rows) break;  // uniform across the subgroup
    const float value = row_value(seg, r, norm, swiglu, scale);
    if (writer) {
      const uint at = p.y_offset + out_base + r;
      y[at] = (p.flags & FLAG_ACCUMULATE) != 0u ? y[at] + value : value;
    }
  }
}
