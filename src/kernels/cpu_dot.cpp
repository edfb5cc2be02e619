#include "kernels/cpu_dot.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <span>
#include <vector>

#include "kernels/cpu_dot_avx2.hpp"
#include "kernels/reference/half.hpp"
#include "kernels/reference/quant.hpp"

// Function multiversioning: the loader picks the AVX2+FMA clone on CPUs that have them. Other
// architectures get their baseline vector unit (NEON on arm64) from the plain build.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CROSSGPU_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CROSSGPU_SIMD_CLONES
#endif

namespace crossgpu::kernels::cpu {
namespace {

constexpr int kLanes = 8;

float f16_at(const std::byte* p) {
  std::uint16_t bits;
  std::memcpy(&bits, p, 2);
  return crossgpu::reference::to_float(static_cast<crossgpu::reference::Half>(bits));
}

float lanes_sum(const float (&lanes)[kLanes]) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

CROSSGPU_SIMD_CLONES
float dot_q8_0(const std::byte* row, const float* x, std::uint64_t blocks) {
  float total[kLanes] = {};
  for (std::uint64_t b = 0; b < blocks; ++b, row += 34, x += 32) {
    const auto* q = reinterpret_cast<const std::int8_t*>(row + 2);
    float block[kLanes] = {};
    for (int i = 0; i < 32; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) block[l] += static_cast<float>(q[i + l]) * x[i + l];
    }
    const float d = f16_at(row);
    for (int l = 0; l < kLanes; ++l) total[l] += d * block[l];
  }
  return lanes_sum(total);
}

CROSSGPU_SIMD_CLONES
float dot_q4_0(const std::byte* row, const float* x, std::uint64_t blocks) {
  float total[kLanes] = {};
  for (std::uint64_t b = 0; b < blocks; ++b, row += 18, x += 32) {
    const auto* q = reinterpret_cast<const std::uint8_t*>(row + 2);
    float block[kLanes] = {};
    for (int i = 0; i < 16; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        block[l] += static_cast<float>((q[i + l] & 0xF) - 8) * x[i + l] +
                    static_cast<float>((q[i + l] >> 4) - 8) * x[16 + i + l];
      }
    }
    const float d = f16_at(row);
    for (int l = 0; l < kLanes; ++l) total[l] += d * block[l];
  }
  return lanes_sum(total);
}

// The 32 weights of one q8_0 or q4_0 block, scaled.
inline void decode_block(WeightType type, const std::byte* block, float (&w)[32]) {
  const float d = f16_at(block);
  if (type == WeightType::q8_0) {
    const auto* q = reinterpret_cast<const std::int8_t*>(block + 2);
    for (int i = 0; i < 32; ++i) w[i] = d * static_cast<float>(q[i]);
    return;
  }
  const auto* q = reinterpret_cast<const std::uint8_t*>(block + 2);
  for (int i = 0; i < 16; ++i) {
    w[i] = d * static_cast<float>((q[i] & 0xF) - 8);
    w[16 + i] = d * static_cast<float>((q[i] >> 4) - 8);
  }
}

// Vectors per pass over the row: their accumulators (8 x 8 lanes) stay in registers or L1.
constexpr std::uint64_t kTokenTile = 8;

CROSSGPU_SIMD_CLONES
void dot_blocks_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                       std::uint64_t tokens, std::uint64_t blocks, float* out, std::uint64_t out_stride) {
  const std::uint64_t block_bytes = type == WeightType::q8_0 ? 34 : 18;
  for (std::uint64_t t0 = 0; t0 < tokens; t0 += kTokenTile) {
    const std::uint64_t n = std::min(kTokenTile, tokens - t0);
    float acc[kTokenTile][kLanes] = {};
    for (std::uint64_t b = 0; b < blocks; ++b) {
      float w[32];
      decode_block(type, row + b * block_bytes, w);
      for (std::uint64_t t = 0; t < n; ++t) {
        const float* xt = x + (t0 + t) * x_stride + b * 32;
        for (int i = 0; i < 32; i += kLanes) {
          for (int l = 0; l < kLanes; ++l) acc[t][l] += w[i + l] * xt[i + l];
        }
      }
    }
    for (std::uint64_t t = 0; t < n; ++t) out[(t0 + t) * out_stride] = lanes_sum(acc[t]);
  }
}

CROSSGPU_SIMD_CLONES
float portable_dot_f32(const float* a, const float* x, std::uint64_t n) {
  float lanes[kLanes] = {};
  std::uint64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * x[i + l];
  }
  for (; i < n; ++i) lanes[0] += a[i] * x[i];
  return lanes_sum(lanes);
}

float portable_dot(WeightType type, const std::byte* row, const float* x, std::uint64_t cols) {
  switch (type) {
    case WeightType::q8_0: return dot_q8_0(row, x, cols / 32);
    case WeightType::q4_0: return dot_q4_0(row, x, cols / 32);
    case WeightType::f32: {
      thread_local std::vector<float> plain;
      plain.resize(cols);
      std::memcpy(plain.data(), row, cols * sizeof(float));  // rows may be unaligned
      return portable_dot_f32(plain.data(), x, cols);
    }
    default: {
      // f16 and the k-quants: decode the row once, then one SIMD dot.
      thread_local std::vector<float> decoded;
      decoded.resize(cols);
      reference::dequantize_row(type, {row, row_bytes(type, cols)}, decoded);
      return portable_dot_f32(decoded.data(), x, cols);
    }
  }
}

// `dot`: the f32 dot of the implementation asked for (avx2's for the types it does not decode).
void portable_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                     std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride,
                     float (*dot)(const float*, const float*, std::uint64_t)) {
  if (type == WeightType::q8_0 || type == WeightType::q4_0) {
    dot_blocks_tokens(type, row, x, x_stride, tokens, cols / 32, out, out_stride);
    return;
  }
  // f32 (rows may be unaligned), f16 and the k-quants: decode the row once, then a SIMD dot each.
  thread_local std::vector<float> decoded;
  decoded.resize(cols);
  if (type == WeightType::f32) std::memcpy(decoded.data(), row, cols * sizeof(float));
  else reference::dequantize_row(type, {row, row_bytes(type, cols)}, decoded);
  for (std::uint64_t t = 0; t < tokens; ++t) {
    out[t * out_stride] = dot(decoded.data(), x + t * x_stride, cols);
  }
}

#if defined(__x86_64__)
// Through the avx2 kernel of `type` into `out`; false when there is none.
bool avx2_dot(WeightType type, const std::byte* row, const float* x, std::uint64_t cols, float& out) {
  switch (type) {
    case WeightType::q8_0: out = avx2::dot_q8_0(row, x, cols / 32); return true;
    case WeightType::q4_0: out = avx2::dot_q4_0(row, x, cols / 32); return true;
    case WeightType::q4_k: out = avx2::dot_q4_k(row, x, cols / 256); return true;
    case WeightType::q6_k: out = avx2::dot_q6_k(row, x, cols / 256); return true;
    case WeightType::f16: out = avx2::dot_f16(row, x, cols); return true;
    case WeightType::bf16: out = avx2::dot_bf16(row, x, cols); return true;
    case WeightType::f32: out = avx2::dot_f32_row(row, x, cols); return true;
    default: return false;
  }
}

// Tiles of up to kTokenTile vectors, each tile one pass over the row.
void avx2_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                 std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride) {
  for (std::uint64_t t0 = 0; t0 < tokens; t0 += kTokenTile) {
    avx2::dot_tokens(type, row, x + t0 * x_stride, x_stride, std::min(kTokenTile, tokens - t0), cols,
                     out + t0 * out_stride, out_stride);
  }
}
#endif

Simd detect_simd() {
  const char* forced = std::getenv("CROSSGPU_CPU_SIMD");
  if (forced != nullptr && std::string_view(forced) == "portable") return Simd::portable;
  return simd_available(Simd::avx2) ? Simd::avx2 : Simd::portable;
}

}  // namespace

bool simd_available(Simd simd) {
  if (simd == Simd::portable) return true;
#if defined(__x86_64__)
  static const bool avx2_here = avx2::available();
  return avx2_here;
#else
  return false;
#endif
}

Simd selected_simd() {
  static const Simd simd = detect_simd();
  return simd;
}

float dot_f32(const float* a, const float* x, std::uint64_t n) {
#if defined(__x86_64__)
  if (selected_simd() == Simd::avx2) return avx2::dot_f32(a, x, n);
#endif
  return portable_dot_f32(a, x, n);
}

float dot_weights(WeightType type, const std::byte* row, const float* x, std::uint64_t cols) {
  return dot_weights(type, row, x, cols, selected_simd());
}

float dot_weights(WeightType type, const std::byte* row, const float* x, std::uint64_t cols, [[maybe_unused]] Simd simd) {
#if defined(__x86_64__)
  float out = 0.0f;
  if (simd == Simd::avx2 && simd_available(simd) && avx2_dot(type, row, x, cols, out)) return out;
#endif
  return portable_dot(type, row, x, cols);
}

void dot_weights_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                        std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride) {
  dot_weights_tokens(type, row, x, x_stride, tokens, cols, out, out_stride, selected_simd());
}

void dot_weights_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                        std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride, [[maybe_unused]] Simd simd) {
#if defined(__x86_64__)
  if (simd == Simd::avx2 && simd_available(simd)) {
    if (avx2::decodes_spans(type)) avx2_tokens(type, row, x, x_stride, tokens, cols, out, out_stride);
    else portable_tokens(type, row, x, x_stride, tokens, cols, out, out_stride, avx2::dot_f32);
    return;
  }
#endif
  portable_tokens(type, row, x, x_stride, tokens, cols, out, out_stride, portable_dot_f32);
}

}  // namespace crossgpu::kernels::cpu
