#include "kernels/cpu_dot.hpp"

#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

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

}  // namespace

CROSSGPU_SIMD_CLONES
float dot_f32(const float* a, const float* x, std::uint64_t n) {
  float lanes[kLanes] = {};
  std::uint64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * x[i + l];
  }
  for (; i < n; ++i) lanes[0] += a[i] * x[i];
  return lanes_sum(lanes);
}

float dot_weights(WeightType type, const std::byte* row, const float* x, std::uint64_t cols) {
  switch (type) {
    case WeightType::q8_0: return dot_q8_0(row, x, cols / 32);
    case WeightType::q4_0: return dot_q4_0(row, x, cols / 32);
    case WeightType::f32: {
      thread_local std::vector<float> plain;
      plain.resize(cols);
      std::memcpy(plain.data(), row, cols * sizeof(float));  // rows may be unaligned
      return dot_f32(plain.data(), x, cols);
    }
    default: {
      // f16 and the k-quants: decode the row once, then one SIMD dot.
      thread_local std::vector<float> decoded;
      decoded.resize(cols);
      reference::dequantize_row(type, {row, row_bytes(type, cols)}, decoded);
      return dot_f32(decoded.data(), x, cols);
    }
  }
}

void dot_weights_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                        std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride) {
  if (type == WeightType::q8_0 || type == WeightType::q4_0) {
    dot_blocks_tokens(type, row, x, x_stride, tokens, cols / 32, out, out_stride);
    return;
  }
  // f32 (rows may be unaligned), f16 and the k-quants: decode the row once, then a SIMD dot each.
  thread_local std::vector<float> decoded;
  decoded.resize(cols);
  if (type == WeightType::f32) std::memcpy(decoded.data(), row, cols * sizeof(float));
  else reference::dequantize_row(type, {row, row_bytes(type, cols)}, decoded);
  for (std::uint64_t t = 0; t < tokens; ++t) out[t * out_stride] = dot_f32(decoded.data(), x + t * x_stride, cols);
}

}  // namespace crossgpu::kernels::cpu
