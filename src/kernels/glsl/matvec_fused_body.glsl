// The decode matvec of a transformer layer, fused: y = W x for up to three weight matrices
// ("segments") packed in one buffer (Q, K and V; gate and up), with the RMSNorm of x folded in,
// SwiGLU of two segments folded in, and the residual add folded in. Push constants:
// kernels/push_constants_weights.hpp FusedMatvecPush, which states the contract.
//
// Work is cut in 32-element units of a row (a block of the 32-element formats, a k-quant
// sub-block). Three mappings of rows onto invocations, one source:
// - matvec_fused.comp (GPUs): one subgroup per row; eight neighbouring lanes share a unit, one
//   quad (4 elements, one 32-bit word of q8_0) each, so that a subgroup reads consecutive words
//   (coalesced) and a block header is one broadcast load; the partial sums meet in one
//   subgroupAdd (no shared memory, no barrier). rows_per_group is local size / subgroup size,
//   set by the host; the loop below stays correct for any subgroup size.
// - matvec_fused_rows.comp (ROW_PER_INVOCATION; CPU-like devices such as lavapipe, where
//   invocations are SIMD lanes of one core): one invocation per row (two rows per invocation,
//   sharing x'), so that nothing is reduced across lanes; every lane reads every quad of x.
// - matvec_fused_lanes.comp (ROW_PER_INVOCATION and X_SHUFFLE; CPU-like devices with subgroups of
//   8 lanes or more): the same, but each lane loads one quad of a unit of x' and the others
//   arrive by shuffles (unit_x). On lavapipe a load whose address varies across lanes (or is
//   inside a loop) is a loop over the lanes, so the number of loads is what costs; the q8_0 and
//   q4_0 units also load each word of a block once (unit_q8_0).
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

#ifdef ROW_PER_INVOCATION
vec4 signed_bytes(uint q) { return vec4((ivec4(int(q)) << ivec4(24, 16, 8, 0)) >> 24); }

// The norm weight's quad at element c; elements past cols as 0 where `checked`.
vec4 g_quad(uint c, bool checked) {
  const uint k = p.g_offset + c;
  if (!checked) return vec4(g[k], g[k + 1u], g[k + 2u], g[k + 3u]);
  vec4 v = vec4(0.0);
  for (uint i = 0u; i < 4u; ++i) {
    if (c + i < p.cols) v[i] = g[k + i];
  }
  return v;
}

// x' of unit u as eight quads, X[j] = elements 32 u + 4 j .. + 3 (`checked`: elements past cols
// as 0, for plain rows), and the squares of x for the norm added to sq where this mapping sums
// them in the dot's loop.
#ifdef X_SHUFFLE
// Lane l of the subgroup (8 lanes or more: the host checks) loads quad l % 8, and the eight
// quads reach every lane by shuffles with constant lane ids, which lavapipe compiles to register
// permutes. There, a load whose address is not provably the same in every lane is a loop over the
// lanes, one scalar load each, so this is 8x fewer such loads of x (and g) than every lane loading
// every quad. Lanes 0-7 count their squares (the subgroup's sum is taken after the loop).
void unit_x(uint u, bool norm, bool checked, out vec4 X[8], inout vec4 sq) {
  const uint lane = gl_SubgroupInvocationID;
  const uint c = u * UNIT + 4u * (lane % 8u);
  const vec4 xr = checked ? xq_checked(c, false) : xq(c, false);
  vec4 mine = xr;
  if (norm) {
    sq = fma(xr, xr * (lane < 8u ? 1.0 : 0.0), sq);
    mine = xr * g_quad(c, checked);
  }
  X[0] = subgroupShuffle(mine, 0u);
  X[1] = subgroupShuffle(mine, 1u);
  X[2] = subgroupShuffle(mine, 2u);
  X[3] = subgroupShuffle(mine, 3u);
  X[4] = subgroupShuffle(mine, 4u);
  X[5] = subgroupShuffle(mine, 5u);
  X[6] = subgroupShuffle(mine, 6u);
  X[7] = subgroupShuffle(mine, 7u);
}
#else
// Every invocation loads every quad (the squares are summed before the loop: lane_squares).
void unit_x(uint u, bool norm, bool checked, out vec4 X[8], inout vec4 sq) {
  for (uint j = 0u; j < 8u; ++j) X[j] = checked ? xq_checked(u * UNIT + 4u * j, norm) : xq(u * UNIT + 4u * j, norm);
}
#endif

// The 32-element blocks that start with an f16 scale (q8_0: 34 bytes, q4_0: 18) at the even
// byte `block`: the words holding the block are each loaded once (a quant word that straddles two
// words is joined from them), not twice as load_u32 would.
bool quants_aligned(uint block) { return (block & 2u) != 0u; }

float block_scale(uint first, bool aligned) { return half_to_float(aligned ? first >> 16 : first & 0xFFFFu); }

uint joined(uint prev, uint next, bool aligned) { return aligned ? next : (prev >> 16) | (next << 16); }

float unit_q8_0(uint row, uint u, vec4 X[8]) {
  const uint block = row + u * 34u;
  const uint at = block >> 2;
  const bool aligned = quants_aligned(block);
  uint prev = w[at];
  const float d = block_scale(prev, aligned);
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) {
    const uint next = w[at + 1u + j];
    acc = fma(signed_bytes(joined(prev, next, aligned)), X[j], acc);
    prev = next;
  }
  return d * sum4(acc);
}

float unit_q4_0(uint row, uint u, vec4 X[8]) {
  const uint block = row + u * 18u;
  const uint at = block >> 2;
  const bool aligned = quants_aligned(block);
  uint prev = w[at];
  const float d = block_scale(prev, aligned);
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 4u; ++j) {
    const uint next = w[at + 1u + j];
    const uvec4 q = uvec4(joined(prev, next, aligned)) >> BYTE_SHIFTS;
    acc = fma(vec4(q & 0xFu) - 8.0, X[j], acc);
    acc = fma(vec4((q >> 4u) & 0xFu) - 8.0, X[j + 4u], acc);
    prev = next;
  }
  return d * sum4(acc);
}

// Byte i (< 12) of a k-quant's packed scales, held as three words.
uint scale_byte(uvec3 scales, uint i) { return (scales[i / 4u] >> (8u * (i % 4u))) & 0xFFu; }

// The 6-bit scale and min of sub-block s, as q4_k_scale_min in weights_decode.glsl.
uvec2 scale_min_of(uvec3 scales, uint s) {
  if (s < 4u) return uvec2(scale_byte(scales, s) & 63u, scale_byte(scales, s + 4u) & 63u);
  const uint low = scale_byte(scales, s + 4u);
  return uvec2((low & 0xFu) | ((scale_byte(scales, s - 4u) >> 6) << 4),
               (low >> 4) | ((scale_byte(scales, s) >> 6) << 4));
}

// Sub-blocks s and s + 1 (s = u % 8, even) of a q4_k or q5_k (fifth) super-block, each
// d * sc * sum(q x) - dmin * m * sum(x) (layouts: quad_k_min in weights_decode.glsl): they share
// their quant words (low and high nibbles) and q5_k's fifth-bit words, so each is loaded once
// for both, and the header (d, dmin, scales) is loaded as four words.
float pair_k_min(uint row, uint u, vec4 X0[8], vec4 X1[8], bool fifth) {
  const uint block = row + (u / 8u) * (fifth ? 176u : 144u);
  const uint at = block >> 2;
  const uint s = u % 8u;
  const uint head = w[at];
  const uvec3 scales = uvec3(w[at + 1u], w[at + 2u], w[at + 3u]);
  const uvec2 sm0 = scale_min_of(scales, s);
  const uvec2 sm1 = scale_min_of(scales, s + 1u);
  const uint quants = at + (fifth ? 12u : 4u) + 8u * (s / 2u);
  vec4 acc0 = vec4(0.0), acc1 = vec4(0.0), xs0 = vec4(0.0), xs1 = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) {
    const uvec4 q = uvec4(w[quants + j]) >> BYTE_SHIFTS;
    uvec4 q0 = q & 0xFu;
    uvec4 q1 = (q >> 4u) & 0xFu;
    if (fifth) {
      const uvec4 h = uvec4(w[at + 4u + j]) >> (BYTE_SHIFTS + s);
      q0 |= (h & 1u) << 4;
      q1 |= ((h >> 1u) & 1u) << 4;
    }
    acc0 = fma(vec4(q0), X0[j], acc0);
    acc1 = fma(vec4(q1), X1[j], acc1);
    xs0 += X0[j];
    xs1 += X1[j];
  }
  const float d = half_to_float(head & 0xFFFFu);
  const float dmin = half_to_float(head >> 16);
  return d * (float(sm0.x) * sum4(acc0) + float(sm1.x) * sum4(acc1)) -
         dmin * (float(sm0.y) * sum4(xs0) + float(sm1.y) * sum4(xs1));
}

// The other 32-element formats (q4_1, q5_0, q5_1, iq4_nl), quad by quad through decode_quad.
float unit_quads(uint type, uint row, uint u, vec4 X[8]) {
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) acc = fma(decode_quad(type, row, u, j, p.cols), X[j], acc);
  return sum4(acc);
}

// Units g and g + 2 (g = u % 4 < 2) of half n of a q6_k super-block, elements 128 n + 32 g + l
// and 128 n + 32 (g + 2) + l (see weights_decode.glsl): the low nibbles and high nibbles of the
// same 32 ql bytes and two bit pairs of the same 32 qh bytes, so each word is loaded once for
// both. Super-blocks are 210 bytes, so every other one starts off a word: the words are joined
// as in unit_q8_0, each loaded once.
uint stream_word(uint prev, uint next, bool aligned) { return aligned ? prev : (prev >> 16) | (next << 16); }

float pair_q6_k(uint row, uint u, vec4 X0[8], vec4 X1[8]) {
  const uint block = row + (u / 8u) * 210u;
  const uint n = (u % 8u) / 4u;
  const uint gq = u % 4u;
  const uint lo = block + 64u * n + 32u * gq;
  const uint hi = block + 128u + 32u * n;
  const bool aligned = (block & 2u) == 0u;
  uint lo_prev = w[lo >> 2];
  uint hi_prev = w[hi >> 2];
  vec4 a0 = vec4(0.0), a1 = vec4(0.0), b0 = vec4(0.0), b1 = vec4(0.0);  // unit g, g + 2; scale 0, 1
  for (uint j = 0u; j < 8u; ++j) {
    const uint lo_next = w[(lo >> 2) + 1u + j];
    const uint hi_next = w[(hi >> 2) + 1u + j];
    const uvec4 l = uvec4(stream_word(lo_prev, lo_next, aligned)) >> BYTE_SHIFTS;
    const uvec4 h = uvec4(stream_word(hi_prev, hi_next, aligned)) >> (BYTE_SHIFTS + 2u * gq);
    const vec4 q0 = vec4(ivec4((l & 0xFu) | ((h & 3u) << 4)) - 32);
    const vec4 q1 = vec4(ivec4(((l >> 4u) & 0xFu) | (((h >> 4u) & 3u) << 4)) - 32);
    if (j < 4u) {
      a0 = fma(q0, X0[j], a0);
      b0 = fma(q1, X1[j], b0);
    } else {
      a1 = fma(q0, X0[j], a1);
      b1 = fma(q1, X1[j], b1);
    }
    lo_prev = lo_next;
    hi_prev = hi_next;
  }
  const uint scales = block + 192u + 8u * n + 2u * gq;
  return load_f16(block + 208u) *
         (float(load_i8(scales)) * sum4(a0) + float(load_i8(scales + 1u)) * sum4(a1) +
          float(load_i8(scales + 4u)) * sum4(b0) + float(load_i8(scales + 5u)) * sum4(b1));
}

float unit_plain(uint type, uint row, uint u, vec4 X[8]) {
  vec4 acc = vec4(0.0);
  for (uint j = 0u; j < 8u; ++j) acc = fma(quad_plain(type, row, u, j, p.cols), X[j], acc);
  return sum4(acc);
}

float unit_dot(uint type, uint row, uint u, vec4 X[8]) {
  if (type == WT_Q8_0) return unit_q8_0(row, u, X);
  if (type == WT_Q4_0) return unit_q4_0(row, u, X);
  if (is_plain(type)) return unit_plain(type, row, u, X);
  return unit_quads(type, row, u, X);
}

// The rows at bytes row0 and row1 (both of `type`) against x', unit by unit, x' of each unit
// loaded once for both. Called with constant `type` and `norm`, so that each loop is compiled
// for one format.
vec2 units_dot(uint type, uint row0, uint row1, bool norm, inout vec4 sq) {
  const uint units = (p.cols + UNIT - 1u) / UNIT;
  const bool checked = is_plain(type);
  vec2 acc = vec2(0.0);
  if (type == WT_Q4_K || type == WT_Q5_K) {  // sub-blocks in pairs (a super-block has 8)
    for (uint u = 0u; u < units; u += 2u) {
      vec4 X0[8], X1[8];
      unit_x(u, norm, false, X0, sq);
      unit_x(u + 1u, norm, false, X1, sq);
      acc.x += pair_k_min(row0, u, X0, X1, type == WT_Q5_K);
      acc.y += pair_k_min(row1, u, X0, X1, type == WT_Q5_K);
    }
    return acc;
  }
  if (type == WT_Q6_K) {  // units g and g + 2 of each half super-block together
    for (uint u = 0u; u < units; u += (u % 2u == 0u) ? 1u : 3u) {
      vec4 X0[8], X1[8];
      unit_x(u, norm, false, X0, sq);
      unit_x(u + 2u, norm, false, X1, sq);
      acc.x += pair_q6_k(row0, u, X0, X1);
      acc.y += pair_q6_k(row1, u, X0, X1);
    }
    return acc;
  }
  for (uint u = 0u; u < units; ++u) {
    vec4 X[8];
    unit_x(u, norm, checked, X, sq);
    acc.x += unit_dot(type, row0, u, X);
    acc.y += unit_dot(type, row1, u, X);
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
vec2 units_dot_switch(uint type, uint row0, uint row1, bool norm, inout vec4 sq) {
  switch (type) {  // GENERIC_TYPES
    case WT_F32: return units_dot(WT_F32, row0, row1, norm, sq);
    case WT_F16: return units_dot(WT_F16, row0, row1, norm, sq);
    case WT_Q4_0: return units_dot(WT_Q4_0, row0, row1, norm, sq);
    case WT_Q8_0: return units_dot(WT_Q8_0, row0, row1, norm, sq);
    case WT_Q4_K: return units_dot(WT_Q4_K, row0, row1, norm, sq);
    case WT_Q6_K: return units_dot(WT_Q6_K, row0, row1, norm, sq);
    default: return vec2(0.0);
  }
}

// Rows of two types (SwiGLU's gate and up in the unspecialized kernel) take a pass each, through
// the one inlined copy of the switch.
vec2 units_dot_typed(uint type0, uint type1, uint row0, uint row1, bool norm, inout vec4 sq) {
  if (FIXED_TYPE != ANY) return units_dot(FIXED_TYPE, row0, row1, norm, sq);
  const bool same = type0 == type1;
  vec2 result = vec2(0.0);
  for (uint pass = 0u; pass < (same ? 1u : 2u); ++pass) {
    vec4 pass_sq = vec4(0.0);
    const uint first = pass == 0u ? row0 : row1;
    const vec2 d = units_dot_switch(pass == 0u ? type0 : type1, first, same ? row1 : first, norm, pass_sq);
    if (pass == 0u) {
      sq = pass_sq;
      result = same ? d : vec2(d.x, 0.0);
    } else {
      result.y = d.x;
    }
  }
  return result;
}

// The norm a constant too.
vec2 units_dot_of(uint type0, uint type1, uint row0, uint row1, bool norm, inout vec4 sq) {
  return norm ? units_dot_typed(type0, type1, row0, row1, true, sq)
              : units_dot_typed(type0, type1, row0, row1, false, sq);
}
#endif

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

// The start of main() in every mapping, a macro so that each main stays one function: the flags,
// and this workgroup's segment. Workgroups are laid out segment after segment (ceil(rows / rpg)
// each), so one workgroup reads one segment; with SwiGLU only segment 0's rows are counted.
#define FIND_SEGMENT                                                                         \
  const uint rpg = p.rows_per_group;                                                         \
  const bool swiglu = (p.flags & FLAG_SWIGLU) != 0u;                                         \
  const bool norm = FIXED_NORM == ANY ? (p.flags & FLAG_NORM) != 0u : FIXED_NORM == 1u;     \
  uint group = gl_WorkGroupID.x;                                                             \
  uint seg = 0u;                                                                             \
  uint out_base = 0u;                                                                        \
  const uint last_seg = swiglu ? 0u : clamp(p.segments, 1u, 3u) - 1u;                        \
  while (seg < last_seg && group >= (seg_rows(seg) + rpg - 1u) / rpg) {                      \
    group -= (seg_rows(seg) + rpg - 1u) / rpg;                                               \
    out_base += seg_rows(seg);                                                               \
    ++seg;                                                                                   \
  }                                                                                          \
  const uint rows = seg_rows(seg);

#ifdef ROW_PER_INVOCATION
// Two rows per invocation, so that both dots share the loads of x': rows lid and lid + local
// size of the group's rows_per_group (the host sets 2 x local size), or with SwiGLU the gate and
// up rows of one output (rows_per_group = local size). An invocation past its segment's rows
// computes the last row and writes nothing: every lane stays active for the shuffles.
void main() {
  FIND_SEGMENT
  const uint r0 = group * rpg + gl_LocalInvocationID.x;
  const uint r1 = swiglu ? r0 : r0 + gl_WorkGroupSize.x;
  const uint type0 = FIXED_TYPE == ANY ? seg_type(seg) : FIXED_TYPE;
  const uint type1 = swiglu ? (FIXED_TYPE == ANY ? p.type1 : FIXED_TYPE) : type0;
  const uint last = max(rows, 1u) - 1u;
  const uint row0 = seg_offset(seg) + min(r0, last) * row_bytes_of(type0, p.cols);
  const uint row1 = (swiglu ? p.w_offset1 : seg_offset(seg)) + min(r1, last) * row_bytes_of(type1, p.cols);
  vec4 sq = vec4(0.0);
  vec2 value = units_dot_of(type0, type1, row0, row1, norm, sq);
  if (norm) {
#ifdef X_SHUFFLE
    value *= inversesqrt(subgroupAdd(sum4(sq)) / float(p.cols) + p.eps);
#else
    value *= inversesqrt(lane_squares() / float(p.cols) + p.eps);
#endif
  }
  const bool accumulate = (p.flags & FLAG_ACCUMULATE) != 0u;
  if (swiglu) value = vec2(value.x / (1.0 + exp(-value.x)) * value.y, 0.0);
  if (r0 < rows) {
    const uint at = p.y_offset + out_base + r0;
    y[at] = accumulate ? y[at] + value.x : value.x;
  }
  if (!swiglu && r1 < rows) {
    const uint at = p.y_offset + out_base + r1;
    y[at] = accumulate ? y[at] + value.y : value.y;
  }
}
#else
// y for row r of segment `seg` (and of segment 1 with SwiGLU); `scale` is the norm's.
float row_value(uint seg, uint r, bool norm, bool swiglu, float scale) {
  const uint type = FIXED_TYPE == ANY ? seg_type(seg) : FIXED_TYPE;
  const uint up_type = FIXED_TYPE == ANY ? p.type1 : FIXED_TYPE;
  float value = row_total(lane_share(type, seg_offset(seg) + r * row_bytes_of(type, p.cols), norm));
  // The norm's scale from the squares that dot just summed (the row mapping passes it in).
  if (norm) scale = inversesqrt(row_total(lane_sq) / float(p.cols) + p.eps);
  value *= scale;
  if (swiglu) {
    const float up = scale * row_total(lane_share(up_type, p.w_offset1 + r * row_bytes_of(up_type, p.cols), norm));
    value = value / (1.0 + exp(-value)) * up;
  }
  return value;
}

void main() {
  FIND_SEGMENT
  const uint first_row = gl_SubgroupID;
  const uint row_step = gl_NumSubgroups;
  const bool writer = subgroupElect();
  float scale = 1.0;
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
#endif
