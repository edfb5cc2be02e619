// Decoding of the weight formats of kernels/weight_type.hpp (layouts: kernels/reference/quant.hpp)
// from a storage buffer of 32-bit words named `w`, which the including shader declares. Bytes
// and halves are cut out of words with shifts, so no 8- or 16-bit storage feature is needed and
// rows may start on any even byte (a q4_0 row is 18 * n bytes). The ops bind whole words.
//
// Work is cut in units of 32 consecutive elements of a row: a block of the 32-element formats
// (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl), a q4_k / q5_k sub-block, a quarter of a q6_k
// half-block, or 32 f32/f16/bf16 elements (the last unit of such a "plain" row may be partial:
// its missing elements decode as 0).

const uint WT_F32 = 0u;
const uint WT_F16 = 1u;
const uint WT_Q4_0 = 2u;
const uint WT_Q4_1 = 3u;
const uint WT_Q5_0 = 6u;
const uint WT_Q5_1 = 7u;
const uint WT_Q8_0 = 8u;
const uint WT_Q4_K = 12u;
const uint WT_Q5_K = 13u;
const uint WT_Q6_K = 14u;
const uint WT_IQ4_NL = 20u;
const uint WT_BF16 = 30u;
const uint UNIT = 32u;

// One element per block: read element by element, rows of any length.
bool is_plain(uint type) { return type == WT_F32 || type == WT_F16 || type == WT_BF16; }

uint load_u8(uint b) { return (w[b >> 2] >> ((b & 3u) * 8u)) & 0xFFu; }

int load_i8(uint b) { return bitfieldExtract(int(w[b >> 2]), int((b & 3u) * 8u), 8); }

// The 4 bytes at b, any b. The second word is read only when b is not word-aligned, so the read
// never passes the word holding b + 3.
uint load_u32(uint b) {
  const uint s = (b & 3u) * 8u;
  const uint lo = w[b >> 2];
  const uint hi = w[(b >> 2) + (s == 0u ? 0u : 1u)];
  return s == 0u ? lo : (lo >> s) | (hi << (32u - s));
}

// The f16 at the even byte b, widened.
// IEEE half -> float by integer ops, not unpackHalf2x16: LLVM 15's aarch64 backend aborts
// ("Cannot select: v4f32 = truncate") when lavapipe vectorizes the half conversion, and mobile
// drivers have been known to get it wrong too. Exact for every half, subnormals and inf/NaN too.
float half_to_float(uint h) {
  const uint sign = (h & 0x8000u) << 16;
  const uint exponent = (h >> 10) & 0x1Fu;
  const uint mantissa = h & 0x3FFu;
  if (exponent == 0u) {  // zero or subnormal: mantissa * 2^-24, exact in f32
    const float magnitude = float(mantissa) * 5.9604644775390625e-8;
    return sign != 0u ? -magnitude : magnitude;
  }
  if (exponent == 31u) return uintBitsToFloat(sign | 0x7F800000u | (mantissa << 13));
  return uintBitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

float load_f16(uint b) { return half_to_float((w[b >> 2] >> ((b & 2u) * 8u)) & 0xFFFFu); }

uint row_bytes_of(uint type, uint cols) {
  switch (type) {
    case WT_F32: return cols * 4u;
    case WT_F16: return cols * 2u;
    case WT_BF16: return cols * 2u;
    case WT_Q4_0: return cols / 32u * 18u;
    case WT_Q4_1: return cols / 32u * 20u;
    case WT_Q5_0: return cols / 32u * 22u;
    case WT_Q5_1: return cols / 32u * 24u;
    case WT_Q8_0: return cols / 32u * 34u;
    case WT_Q4_K: return cols / 256u * 144u;
    case WT_Q5_K: return cols / 256u * 176u;
    case WT_Q6_K: return cols / 256u * 210u;
    case WT_IQ4_NL: return cols / 32u * 18u;
    default: return 0u;
  }
}

// The bf16 at the even byte b: the top half of an f32.
float load_bf16(uint b) { return uintBitsToFloat(((w[b >> 2] >> ((b & 2u) * 8u)) & 0xFFFFu) << 16); }

// Element c of an f32, f16 or bf16 row starting at byte `row`.
float load_plain(uint type, uint row, uint c) {
  if (type == WT_F32) return uintBitsToFloat(w[(row >> 2) + c]);
  return type == WT_BF16 ? load_bf16(row + 2u * c) : load_f16(row + 2u * c);
}

// Each format decodes a quad: elements 4j .. 4j + 3 (j < 8) of a unit, from one 32-bit word of
// quants (two for q6_k). Vectors rather than arrays, so that nothing spills to local memory; a
// shader that loops j over a unit lets the compiler share the block header's loads.
const uvec4 BYTE_SHIFTS = uvec4(0u, 8u, 16u, 24u);

// The nibbles of elements 4j .. 4j + 3 of a block whose 16 nibble bytes start at byte `qs`
// (elements 16.. are the high nibbles), as q4_0, q4_1, q5_0, q5_1 and iq4_nl lay them out.
uvec4 block_nibbles(uint qs, uint j) {
  return (uvec4(load_u32(qs + 4u * (j % 4u))) >> (BYTE_SHIFTS + (j < 4u ? 0u : 4u))) & 0xFu;
}

vec4 quad_q4_0(uint row, uint unit, uint j) {
  const uint block = row + unit * 18u;
  return load_f16(block) * (vec4(block_nibbles(block + 2u, j)) - 8.0);
}

// The fifth bits of elements 4j .. 4j + 3 of a q5_0 / q5_1 block (bit e of the u32 at `qh`),
// as 0 or 16.
uvec4 block_high_bits(uint qh, uint j) {
  return ((uvec4(load_u32(qh)) >> (uvec4(0u, 1u, 2u, 3u) + 4u * j)) & 1u) << 4;
}

vec4 quad_q4_1(uint row, uint unit, uint j) {
  const uint block = row + unit * 20u;
  return load_f16(block) * vec4(block_nibbles(block + 4u, j)) + load_f16(block + 2u);
}

vec4 quad_q5_0(uint row, uint unit, uint j) {
  const uint block = row + unit * 22u;
  const uvec4 q = block_nibbles(block + 6u, j) | block_high_bits(block + 2u, j);
  return load_f16(block) * (vec4(q) - 16.0);
}

vec4 quad_q5_1(uint row, uint unit, uint j) {
  const uint block = row + unit * 24u;
  const uvec4 q = block_nibbles(block + 8u, j) | block_high_bits(block + 4u, j);
  return load_f16(block) * vec4(q) + load_f16(block + 2u);
}

// IQ4_NL's 16 levels as signed bytes, four to a word (-127, -104, -83, -65 in the first).
const uvec4 IQ4_NL_LEVELS = uvec4(0xBFAD9881u, 0xF6EADDCFu, 0x26190D01u, 0x71594535u);

float iq4_nl_level(uint nibble) {
  return float(bitfieldExtract(int(IQ4_NL_LEVELS[nibble >> 2]), int((nibble & 3u) * 8u), 8));
}

vec4 quad_iq4_nl(uint row, uint unit, uint j) {
  const uint block = row + unit * 18u;
  const uvec4 n = block_nibbles(block + 2u, j);
  return load_f16(block) * vec4(iq4_nl_level(n.x), iq4_nl_level(n.y), iq4_nl_level(n.z), iq4_nl_level(n.w));
}

vec4 quad_q8_0(uint row, uint unit, uint j) {
  const uint block = row + unit * 34u;
  const ivec4 q = (ivec4(int(load_u32(block + 2u + 4u * j))) << ivec4(24, 16, 8, 0)) >> 24;
  return load_f16(block) * vec4(q);
}

// The 6-bit scale and min of sub-block s of the q4_k super-block at byte `block`, unpacked.
uvec2 q4_k_scale_min(uint block, uint s) {
  const uint scales = block + 4u;
  if (s < 4u) return uvec2(load_u8(scales + s) & 63u, load_u8(scales + s + 4u) & 63u);
  const uint low = load_u8(scales + s + 4u);
  return uvec2((low & 0xFu) | ((load_u8(scales + s - 4u) >> 6) << 4),
               (low >> 4) | ((load_u8(scales + s) >> 6) << 4));
}

// Unit = sub-block s of a q4_k (144 bytes) or q5_k (176 bytes, fifth = true) super-block: 6-bit
// scale and min from the packed bytes; the nibbles at byte 16 (q4_k) or 48 (q5_k); q5_k's fifth
// bit of element l is bit s of qh[l] (bytes 16 .. 47).
vec4 quad_k_min(uint row, uint unit, uint j, bool fifth) {
  const uint block = row + (unit / 8u) * (fifth ? 176u : 144u);
  const uint s = unit % 8u;
  const uvec2 sm = q4_k_scale_min(block, s);
  const float scale = load_f16(block) * float(sm.x);
  const float min_ = load_f16(block + 2u) * float(sm.y);
  const uint q = load_u32(block + (fifth ? 48u : 16u) + 32u * (s / 2u) + 4u * j);
  uvec4 quants = (uvec4(q) >> (BYTE_SHIFTS + (s % 2u) * 4u)) & 0xFu;
  if (fifth) quants |= ((uvec4(load_u32(block + 16u + 4u * j)) >> (BYTE_SHIFTS + s)) & 1u) << 4;
  return scale * vec4(quants) - min_;
}

// Unit u of a super-block covers elements 32u .. 32u + 31 = 128 n + 32 g + l: the low 4 bits
// of each 6-bit value are nibbles of 32 consecutive ql bytes, the high 2 bits a bit pair of 32
// consecutive qh bytes, and the unit spans two of the 16-element scale groups.
vec4 quad_q6_k(uint row, uint unit, uint j) {
  const uint block = row + (unit / 8u) * 210u;
  const uint n = (unit % 8u) / 4u;
  const uint g = unit % 4u;
  const uint lo = load_u32(block + 64u * n + 32u * (g % 2u) + 4u * j);
  const uint hi = load_u32(block + 128u + 32u * n + 4u * j);
  const uvec4 q = ((uvec4(lo) >> (BYTE_SHIFTS + (g < 2u ? 0u : 4u))) & 0xFu) |
                  (((uvec4(hi) >> (BYTE_SHIFTS + 2u * g)) & 3u) << 4);
  const float scale = load_f16(block + 208u) * float(load_i8(block + 192u + 8u * n + 2u * g + j / 4u));
  return scale * vec4(ivec4(q) - 32);
}

// f32 / f16 / bf16, and any unknown type (zeros): elements past `cols` decode as 0.
vec4 quad_plain(uint type, uint row, uint unit, uint j, uint cols) {
  vec4 v = vec4(0.0);
  const bool plain = is_plain(type);
  for (uint k = 0u; k < 4u; ++k) {
    const uint c = unit * UNIT + 4u * j + k;
    if (plain && c < cols) v[k] = load_plain(type, row, c);
  }
  return v;
}

// Elements 4j .. 4j + 3 of `unit` of the row of `cols` elements starting at byte `row`.
vec4 decode_quad(uint type, uint row, uint unit, uint j, uint cols) {
  switch (type) {
    case WT_Q4_0: return quad_q4_0(row, unit, j);
    case WT_Q4_1: return quad_q4_1(row, unit, j);
    case WT_Q5_0: return quad_q5_0(row, unit, j);
    case WT_Q5_1: return quad_q5_1(row, unit, j);
    case WT_Q8_0: return quad_q8_0(row, unit, j);
    case WT_Q4_K: return quad_k_min(row, unit, j, false);
    case WT_Q5_K: return quad_k_min(row, unit, j, true);
    case WT_Q6_K: return quad_q6_k(row, unit, j);
    case WT_IQ4_NL: return quad_iq4_nl(row, unit, j);
    default: return quad_plain(type, row, unit, j, cols);
  }
}
