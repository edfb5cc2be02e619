#include "kernels/cpu_dot_avx2.hpp"

#if defined(__x86_64__)

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>

// Every function here, helpers included, is compiled for AVX2 + FMA + F16C whatever the build's
// baseline; they run only where available() said so.
#define CROSSGPU_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace crossgpu::kernels::cpu::avx2 {
namespace {

CROSSGPU_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

CROSSGPU_AVX2 inline float f16_at(const std::byte* p) {
  std::uint16_t bits;
  std::memcpy(&bits, p, 2);
  return _cvtsh_ss(bits);
}

// The low 8 bytes of v as 8 floats, signed or unsigned.
CROSSGPU_AVX2 inline __m256 i8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }
CROSSGPU_AVX2 inline __m256 u8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
CROSSGPU_AVX2 inline __m128i high8(__m128i v) { return _mm_unpackhi_epi64(v, v); }
CROSSGPU_AVX2 inline __m128i load16(const std::byte* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
CROSSGPU_AVX2 inline __m256i load32(const std::byte* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
CROSSGPU_AVX2 inline __m128i load8(const std::byte* p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)); }

// acc + sum over 16 elements of float(q[i]) * scale * x[i], q the 16 bytes of v (signed).
CROSSGPU_AVX2 inline __m256 fma16_scaled(__m128i v, __m256 scale, const float* x, __m256 acc) {
  acc = _mm256_fmadd_ps(_mm256_mul_ps(scale, i8_to_ps(v)), _mm256_loadu_ps(x), acc);
  return _mm256_fmadd_ps(_mm256_mul_ps(scale, i8_to_ps(high8(v))), _mm256_loadu_ps(x + 8), acc);
}

// The 6-bit scale and min of q4_k sub-block s from the 12 packed bytes at `p` (the reference's
// q4_k_scale_min).
struct ScaleMin {
  int scale, min;
};
inline ScaleMin q4_k_scale_min(const std::uint8_t* p, int s) {
  if (s < 4) return {p[s] & 63, p[s + 4] & 63};
  return {(p[s + 4] & 0xF) | ((p[s - 4] >> 6) << 4), (p[s + 4] >> 4) | ((p[s] >> 6) << 4)};
}

// acc + sum over 16 elements of (scale * q - min) * x, q the 16 unsigned bytes of v: the
// reference's value (a product, then a difference, each rounded) times x.
CROSSGPU_AVX2 inline __m256 fma16_scale_min(__m128i v, __m256 scale, __m256 min, const float* x, __m256 acc) {
  const __m256 w0 = _mm256_sub_ps(_mm256_mul_ps(scale, u8_to_ps(v)), min);
  const __m256 w1 = _mm256_sub_ps(_mm256_mul_ps(scale, u8_to_ps(high8(v))), min);
  acc = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x), acc);
  return _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + 8), acc);
}


// Sub-blocks 2j and 2j + 1 of a q4_k block: their scales and mins as the reference computes them.
struct Q4kPair {
  __m256 scale_a, min_a, scale_c, min_c;
};
CROSSGPU_AVX2 inline Q4kPair q4_k_pair(const std::byte* block, int j) {
  const float d = f16_at(block), dmin = f16_at(block + 2);
  const auto* packed = reinterpret_cast<const std::uint8_t*>(block + 4);
  const ScaleMin a = q4_k_scale_min(packed, 2 * j), c = q4_k_scale_min(packed, 2 * j + 1);
  return {_mm256_set1_ps(d * static_cast<float>(a.scale)), _mm256_set1_ps(dmin * static_cast<float>(a.min)),
          _mm256_set1_ps(d * static_cast<float>(c.scale)), _mm256_set1_ps(dmin * static_cast<float>(c.min))};
}

// q6_k: the signed quants of elements 128n + 32g + 16half + [0, 16) for g < 4: the low nibble of
// ql[64n + 32(g % 2) + l] (high nibble for g >= 2), bits 2g, 2g + 1 of qh[32n + l], minus 32.
CROSSGPU_AVX2 inline void q6_k_quants(const std::byte* block, int n, int half, __m128i (&q)[4]) {
  const __m128i low4 = _mm_set1_epi8(0x0F), two = _mm_set1_epi8(3), bias = _mm_set1_epi8(32);
  const __m128i a = load16(block + 64 * n + 16 * half), c = load16(block + 64 * n + 32 + 16 * half);
  const __m128i h = load16(block + 128 + 32 * n + 16 * half);
  const __m128i low[4] = {_mm_and_si128(a, low4), _mm_and_si128(c, low4), _mm_and_si128(_mm_srli_epi16(a, 4), low4),
                          _mm_and_si128(_mm_srli_epi16(c, 4), low4)};
  for (int g = 0; g < 4; ++g) {
    const __m128i high = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(h, 2 * g), two), 4);
    q[g] = _mm_sub_epi8(_mm_or_si128(low[g], high), bias);
  }
}
}  // namespace

bool available() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, f16c = (ecx >> 29) & 1;
  if (!(fma && osxsave && avx && f16c)) return false;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 6) != 6) return false;  // the OS saves the XMM and YMM registers
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (ebx >> 5) & 1;  // AVX2
}

// Per block: the 32 int8 quants times x summed in f32 lanes, then scaled by d once.
CROSSGPU_AVX2 float dot_q8_0(const std::byte* row, const float* x, std::uint64_t blocks) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (std::uint64_t b = 0; b < blocks; ++b, row += 34, x += 32) {
    const std::byte* q = row + 2;
    __m256 s0 = _mm256_mul_ps(i8_to_ps(load8(q)), _mm256_loadu_ps(x));
    __m256 s1 = _mm256_mul_ps(i8_to_ps(load8(q + 8)), _mm256_loadu_ps(x + 8));
    s0 = _mm256_fmadd_ps(i8_to_ps(load8(q + 16)), _mm256_loadu_ps(x + 16), s0);
    s1 = _mm256_fmadd_ps(i8_to_ps(load8(q + 24)), _mm256_loadu_ps(x + 24), s1);
    const __m256 d = _mm256_set1_ps(f16_at(row));
    if (b & 1) acc1 = _mm256_fmadd_ps(d, _mm256_add_ps(s0, s1), acc1);
    else acc0 = _mm256_fmadd_ps(d, _mm256_add_ps(s0, s1), acc0);
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

// Per block: element j < 16 is the low nibble of byte j, element 16 + j its high nibble, minus 8.
CROSSGPU_AVX2 float dot_q4_0(const std::byte* row, const float* x, std::uint64_t blocks) {
  const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (std::uint64_t b = 0; b < blocks; ++b, row += 18, x += 32) {
    const __m128i v = load16(row + 2);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, low4), eight);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), low4), eight);
    __m256 s0 = _mm256_mul_ps(i8_to_ps(lo), _mm256_loadu_ps(x));
    __m256 s1 = _mm256_mul_ps(i8_to_ps(high8(lo)), _mm256_loadu_ps(x + 8));
    s0 = _mm256_fmadd_ps(i8_to_ps(hi), _mm256_loadu_ps(x + 16), s0);
    s1 = _mm256_fmadd_ps(i8_to_ps(high8(hi)), _mm256_loadu_ps(x + 24), s1);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_at(row)), _mm256_add_ps(s0, s1), acc);
  }
  return hsum(acc);
}

// Super-blocks of 256: d, dmin (f16), 12 bytes of 6-bit scales and mins, 128 bytes of nibbles.
// Sub-blocks 2j and 2j + 1 are the low and high nibbles of bytes [32j, 32j + 32).
CROSSGPU_AVX2 float dot_q4_k(const std::byte* row, const float* x, std::uint64_t blocks) {
  const __m128i low4 = _mm_set1_epi8(0x0F);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (std::uint64_t b = 0; b < blocks; ++b, row += 144, x += 256) {
    for (int j = 0; j < 4; ++j) {
      const Q4kPair p = q4_k_pair(row, j);
      for (int half = 0; half < 2; ++half) {
        const __m128i v = load16(row + 16 + 32 * j + 16 * half);
        const __m128i lo = _mm_and_si128(v, low4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
        acc0 = fma16_scale_min(lo, p.scale_a, p.min_a, x + 64 * j + 16 * half, acc0);
        acc1 = fma16_scale_min(hi, p.scale_c, p.min_c, x + 64 * j + 32 + 16 * half, acc1);
      }
    }
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

// Super-blocks of 256: ql (128 bytes of low nibbles), qh (64 bytes of 2-bit pairs), 16 int8
// scales, d (f16). Element 128n + 32g + l: low nibble of ql[64n + 32(g % 2) + l] (high nibble for
// g >= 2), high bits (qh[32n + l] >> 2g) & 3, minus 32; times d * scale[(128n + 32g + l) / 16].
CROSSGPU_AVX2 float dot_q6_k(const std::byte* row, const float* x, std::uint64_t blocks) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (std::uint64_t b = 0; b < blocks; ++b, row += 210, x += 256) {
    const float d = f16_at(row + 208);
    const auto* scales = reinterpret_cast<const std::int8_t*>(row + 192);
    for (int n = 0; n < 2; ++n) {
      for (int half = 0; half < 2; ++half) {
        __m128i q[4];
        q6_k_quants(row, n, half, q);
        for (int g = 0; g < 4; ++g) {
          const int e = 128 * n + 32 * g + 16 * half;
          const __m256 scale = _mm256_set1_ps(d * static_cast<float>(scales[e / 16]));
          __m256& acc = (g & 1) ? acc1 : acc0;
          acc = fma16_scaled(q[g], scale, x + e, acc);
        }
      }
    }
  }
  return hsum(_mm256_add_ps(acc0, acc1));
}

CROSSGPU_AVX2 float dot_f16(const std::byte* row, const float* x, std::uint64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::uint64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(load16(row + 2 * i)), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(load16(row + 2 * i + 16)), _mm256_loadu_ps(x + i + 8), acc1);
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += f16_at(row + 2 * i) * x[i];
  return hsum(_mm256_add_ps(acc0, acc1)) + tail;
}

// bf16 is the top half of an f32.
CROSSGPU_AVX2 float dot_bf16(const std::byte* row, const float* x, std::uint64_t n) {
  __m256 acc = _mm256_setzero_ps();
  std::uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i bits = _mm256_slli_epi32(_mm256_cvtepu16_epi32(load16(row + 2 * i)), 16);
    acc = _mm256_fmadd_ps(_mm256_castsi256_ps(bits), _mm256_loadu_ps(x + i), acc);
  }
  float tail = 0.0f;
  for (; i < n; ++i) {
    std::uint16_t half;
    std::memcpy(&half, row + 2 * i, 2);
    const std::uint32_t bits = std::uint32_t{half} << 16;
    float value;
    std::memcpy(&value, &bits, 4);
    tail += value * x[i];
  }
  return hsum(acc) + tail;
}

CROSSGPU_AVX2 float dot_f32(const float* a, const float* x, std::uint64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::uint64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  if (i + 8 <= n) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(x + i), acc0);
    i += 8;
  }
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * x[i];
  return hsum(_mm256_add_ps(acc0, acc1)) + tail;
}

CROSSGPU_AVX2 float dot_f32_row(const std::byte* row, const float* x, std::uint64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  std::uint64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_castsi256_ps(load32(row + 4 * i)), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_castsi256_ps(load32(row + 4 * i + 32)), _mm256_loadu_ps(x + i + 8), acc1);
  }
  float tail = 0.0f;
  for (; i < n; ++i) {
    float value;
    std::memcpy(&value, row + 4 * i, 4);
    tail += value * x[i];
  }
  return hsum(_mm256_add_ps(acc0, acc1)) + tail;
}

bool decodes_spans(WeightType type) {
  return type == WeightType::q8_0 || type == WeightType::q4_0 || type == WeightType::q4_k || type == WeightType::q6_k;
}

namespace {

CROSSGPU_AVX2 void store16(float* w, __m128i q, __m256 scale) {
  _mm256_storeu_ps(w, _mm256_mul_ps(scale, i8_to_ps(q)));
  _mm256_storeu_ps(w + 8, _mm256_mul_ps(scale, i8_to_ps(high8(q))));
}

CROSSGPU_AVX2 void store16_scale_min(float* w, __m128i q, __m256 scale, __m256 min) {
  _mm256_storeu_ps(w, _mm256_sub_ps(_mm256_mul_ps(scale, u8_to_ps(q)), min));
  _mm256_storeu_ps(w + 8, _mm256_sub_ps(_mm256_mul_ps(scale, u8_to_ps(high8(q))), min));
}

CROSSGPU_AVX2 void decode_q8_0(const std::byte* block, float* w) {
  const __m256 d = _mm256_set1_ps(f16_at(block));
  store16(w, load16(block + 2), d);
  store16(w + 16, load16(block + 18), d);
}

CROSSGPU_AVX2 void decode_q4_0(const std::byte* block, float* w) {
  const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  const __m128i v = load16(block + 2);
  const __m256 d = _mm256_set1_ps(f16_at(block));
  store16(w, _mm_sub_epi8(_mm_and_si128(v, low4), eight), d);
  store16(w + 16, _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), low4), eight), d);
}

CROSSGPU_AVX2 void decode_q4_k(const std::byte* block, float* w) {
  const __m128i low4 = _mm_set1_epi8(0x0F);
  for (int j = 0; j < 4; ++j) {
    const Q4kPair p = q4_k_pair(block, j);
    for (int half = 0; half < 2; ++half) {
      const __m128i v = load16(block + 16 + 32 * j + 16 * half);
      store16_scale_min(w + 64 * j + 16 * half, _mm_and_si128(v, low4), p.scale_a, p.min_a);
      store16_scale_min(w + 64 * j + 32 + 16 * half, _mm_and_si128(_mm_srli_epi16(v, 4), low4), p.scale_c, p.min_c);
    }
  }
}

CROSSGPU_AVX2 void decode_q6_k(const std::byte* block, float* w) {
  const float d = f16_at(block + 208);
  const auto* scales = reinterpret_cast<const std::int8_t*>(block + 192);
  for (int n = 0; n < 2; ++n) {
    for (int half = 0; half < 2; ++half) {
      __m128i q[4];
      q6_k_quants(block, n, half, q);
      for (int g = 0; g < 4; ++g) {
        const int e = 128 * n + 32 * g + 16 * half;
        store16(w + e, q[g], _mm256_set1_ps(d * static_cast<float>(scales[e / 16])));
      }
    }
  }
}

// w[0, count) = elements [first, first + count) of the row (count <= 256, whole blocks).
CROSSGPU_AVX2 void decode_span(WeightType type, const std::byte* row, std::uint64_t first, std::uint64_t count, float* w) {
  const std::uint64_t block = block_elements(type), bytes = block_bytes(type);
  for (std::uint64_t e = 0; e < count; e += block) {
    const std::byte* at = row + (first + e) / block * bytes;
    switch (type) {
      case WeightType::q8_0: decode_q8_0(at, w + e); break;
      case WeightType::q4_0: decode_q4_0(at, w + e); break;
      case WeightType::q4_k: decode_q4_k(at, w + e); break;
      case WeightType::q6_k: decode_q6_k(at, w + e); break;
      default: break;
    }
  }
}

// q8_0 and q4_0 with N vectors: each block's 32 weights decoded into four registers (d * q, as
// decode_q8_0 / decode_q4_0 store them) and met with every vector there, no store and reload.
template <int N>
CROSSGPU_AVX2 void dot_blocks_of(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                                 std::uint64_t cols, float* out, std::uint64_t out_stride) {
  const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
  const bool q8 = type == WeightType::q8_0;
  const std::uint64_t bytes = q8 ? 34 : 18;
  // A accumulators per vector, so that the adds of one sum do not wait on each other (the FMA's
  // latency): few vectors get several, eight get one each (12 of the 16 registers at most).
  constexpr int A = N >= 5 ? 1 : N >= 3 ? 2 : 4;
  // The loops over vectors are unrolled by hand (pragmas): -O2 left them rolled and kept the sums
  // in memory, so 4 vectors cost 2.5x a dot_q8_0 per vector (this 2-core VM, 13:40 UTC).
  __m256 acc[N][A];
#pragma GCC unroll 8
  for (int t = 0; t < N; ++t) {
#pragma GCC unroll 4
    for (int a = 0; a < A; ++a) acc[t][a] = _mm256_setzero_ps();
  }
  for (std::uint64_t e = 0; e < cols; e += 32, row += bytes) {
    const __m256 d = _mm256_set1_ps(f16_at(row));
    __m128i lo, hi;
    if (q8) {
      lo = load16(row + 2);
      hi = load16(row + 18);
    } else {
      const __m128i v = load16(row + 2);
      lo = _mm_sub_epi8(_mm_and_si128(v, low4), eight);
      hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), low4), eight);
    }
    const __m256 w[4] = {_mm256_mul_ps(d, i8_to_ps(lo)), _mm256_mul_ps(d, i8_to_ps(high8(lo))),
                         _mm256_mul_ps(d, i8_to_ps(hi)), _mm256_mul_ps(d, i8_to_ps(high8(hi)))};
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) {
      const float* xt = x + t * x_stride + e;
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k) acc[t][k % A] = _mm256_fmadd_ps(w[k], _mm256_loadu_ps(xt + 8 * k), acc[t][k % A]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < N; ++t) {
    __m256 sum = acc[t][0];
#pragma GCC unroll 4
    for (int a = 1; a < A; ++a) sum = _mm256_add_ps(sum, acc[t][a]);
    out[t * out_stride] = hsum(sum);
  }
}

// N vectors: each decoded weight is loaded once and met with all of them, N sums in registers.
template <int N>
CROSSGPU_AVX2 void dot_tokens_of(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                                 std::uint64_t cols, float* out, std::uint64_t out_stride) {
  if (type == WeightType::q8_0 || type == WeightType::q4_0) {
    return dot_blocks_of<N>(type, row, x, x_stride, cols, out, out_stride);
  }
  constexpr std::uint64_t kSpan = 256;
  alignas(32) float w[kSpan];
  __m256 acc[N];
#pragma GCC unroll 8
  for (int t = 0; t < N; ++t) acc[t] = _mm256_setzero_ps();
  for (std::uint64_t first = 0; first < cols; first += kSpan) {
    const std::uint64_t count = std::min(kSpan, cols - first);
    decode_span(type, row, first, count, w);
    for (std::uint64_t i = 0; i < count; i += 8) {
      const __m256 wv = _mm256_load_ps(w + i);
#pragma GCC unroll 8
      for (int t = 0; t < N; ++t) acc[t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * x_stride + first + i), acc[t]);
    }
  }
  for (int t = 0; t < N; ++t) out[t * out_stride] = hsum(acc[t]);
}

}  // namespace

void dot_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride, std::uint64_t tokens,
                std::uint64_t cols, float* out, std::uint64_t out_stride) {
  switch (tokens) {
    case 1: return dot_tokens_of<1>(type, row, x, x_stride, cols, out, out_stride);
    case 2: return dot_tokens_of<2>(type, row, x, x_stride, cols, out, out_stride);
    case 3: return dot_tokens_of<3>(type, row, x, x_stride, cols, out, out_stride);
    case 4: return dot_tokens_of<4>(type, row, x, x_stride, cols, out, out_stride);
    case 5: return dot_tokens_of<5>(type, row, x, x_stride, cols, out, out_stride);
    case 6: return dot_tokens_of<6>(type, row, x, x_stride, cols, out, out_stride);
    case 7: return dot_tokens_of<7>(type, row, x, x_stride, cols, out, out_stride);
    case 8: return dot_tokens_of<8>(type, row, x, x_stride, cols, out, out_stride);
    default: break;
  }
}

}  // namespace crossgpu::kernels::cpu::avx2

#endif
