#include "kernels/reference/quant.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "kernels/reference/half.hpp"

namespace crossgpu::kernels::reference {
namespace {

using ::crossgpu::reference::Half;

// --- little-endian fields, whatever the host's byte order ---

std::uint32_t u8(std::span<const std::byte> b, std::size_t i) {
  return std::to_integer<std::uint32_t>(b[i]);
}
std::int32_t i8(std::span<const std::byte> b, std::size_t i) {
  return static_cast<std::int8_t>(u8(b, i));
}
float f16(std::span<const std::byte> b, std::size_t i) {
  const auto bits = static_cast<std::uint16_t>(u8(b, i) | (u8(b, i + 1) << 8));
  return ::crossgpu::reference::to_float(static_cast<Half>(bits));
}
float f32(std::span<const std::byte> b, std::size_t i) {
  const std::uint32_t bits = u8(b, i) | (u8(b, i + 1) << 8) | (u8(b, i + 2) << 16) | (u8(b, i + 3) << 24);
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}
void put_u8(std::span<std::byte> b, std::size_t i, std::uint32_t v) {
  b[i] = static_cast<std::byte>(v & 0xFF);
}
void put_u16(std::span<std::byte> b, std::size_t i, std::uint32_t v) {
  put_u8(b, i, v);
  put_u8(b, i + 1, v >> 8);
}
// Stores `value` as f16 and returns what was stored, so that encoders quantize against the
// scale the decoder will see.
float put_f16(std::span<std::byte> b, std::size_t i, float value) {
  const Half half = ::crossgpu::reference::to_half(value);
  put_u16(b, i, ::crossgpu::reference::bits(half));
  return ::crossgpu::reference::to_float(half);
}
void put_f32(std::span<std::byte> b, std::size_t i, float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  put_u16(b, i, bits);
  put_u16(b, i + 2, bits >> 16);
}

// --- decoding one block: `b` holds block_bytes(type), `out` block_elements(type) ---

void decode_q4_0(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 0);
  for (std::size_t j = 0; j < 16; ++j) {
    out[j] = d * static_cast<float>(static_cast<int>(u8(b, 2 + j) & 0xF) - 8);
    out[j + 16] = d * static_cast<float>(static_cast<int>(u8(b, 2 + j) >> 4) - 8);
  }
}

void decode_q8_0(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 0);
  for (std::size_t j = 0; j < 32; ++j) out[j] = d * static_cast<float>(i8(b, 2 + j));
}

// The 6-bit scale and min of q4_k sub-block s (0..7) from the 12 packed bytes at `scales`.
struct ScaleMin {
  std::uint32_t scale;
  std::uint32_t min;
};
ScaleMin q4_k_scale_min(std::span<const std::byte> scales, std::size_t s) {
  if (s < 4) return {u8(scales, s) & 63, u8(scales, s + 4) & 63};
  return {(u8(scales, s + 4) & 0xF) | ((u8(scales, s - 4) >> 6) << 4),
          (u8(scales, s + 4) >> 4) | ((u8(scales, s) >> 6) << 4)};
}

void decode_q4_k(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 0);
  const float dmin = f16(b, 2);
  for (std::size_t s = 0; s < 8; ++s) {
    const ScaleMin sm = q4_k_scale_min(b.subspan(4, 12), s);
    const float scale = d * static_cast<float>(sm.scale);
    const float min = dmin * static_cast<float>(sm.min);
    const unsigned shift = (s % 2) * 4;
    for (std::size_t l = 0; l < 32; ++l) {
      const std::uint32_t q = (u8(b, 16 + 32 * (s / 2) + l) >> shift) & 0xF;
      out[32 * s + l] = scale * static_cast<float>(q) - min;
    }
  }
}

void decode_q6_k(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 208);
  for (std::size_t e = 0; e < 256; ++e) {
    const std::size_t n = e / 128, g = (e % 128) / 32, l = e % 32;
    const std::uint32_t low = (u8(b, 64 * n + 32 * (g % 2) + l) >> (g < 2 ? 0 : 4)) & 0xF;
    const std::uint32_t high = (u8(b, 128 + 32 * n + l) >> (2 * g)) & 3;
    const int q = static_cast<int>(low | (high << 4)) - 32;
    out[e] = d * static_cast<float>(i8(b, 192 + e / 16)) * static_cast<float>(q);
  }
}

void decode_block(WeightType type, std::span<const std::byte> b, std::span<float> out) {
  switch (type) {
    case WeightType::f32: out[0] = f32(b, 0); return;
    case WeightType::f16: out[0] = f16(b, 0); return;
    case WeightType::q4_0: decode_q4_0(b, out); return;
    case WeightType::q8_0: decode_q8_0(b, out); return;
    case WeightType::q4_k: decode_q4_k(b, out); return;
    case WeightType::q6_k: decode_q6_k(b, out); return;
  }
}

// --- encoding one block ---

// The element of largest magnitude, with its sign.
float signed_max(std::span<const float> x) {
  float best = 0.0f;
  for (float v : x) {
    if (std::abs(v) > std::abs(best)) best = v;
  }
  return best;
}

int nearest(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::lround(v)), lo, hi);
}

// q = x / step rounded into [lo, hi], or 0 for a zero step (then every x of the block is 0).
int quantize(float x, float step, int lo, int hi) {
  return step == 0.0f ? std::clamp(0, lo, hi) : nearest(x / step, lo, hi);
}

void encode_q4_0(std::span<const float> x, std::span<std::byte> b) {
  // The extreme maps to -8, the end of the nibble range with the larger reach.
  const float d = put_f16(b, 0, signed_max(x) / -8.0f);
  for (std::size_t j = 0; j < 16; ++j) {
    const int lo = quantize(x[j], d, -8, 7) + 8;
    const int hi = quantize(x[j + 16], d, -8, 7) + 8;
    put_u8(b, 2 + j, static_cast<std::uint32_t>(lo | (hi << 4)));
  }
}

void encode_q8_0(std::span<const float> x, std::span<std::byte> b) {
  const float d = put_f16(b, 0, std::abs(signed_max(x)) / 127.0f);
  for (std::size_t j = 0; j < 32; ++j) {
    put_u8(b, 2 + j, static_cast<std::uint32_t>(quantize(x[j], d, -127, 127)));
  }
}

// Sub-block s gets value = d * sc * q - dmin * m with q in [0, 15]: its range [lo, hi] (lo <= 0
// so that the min is subtracted) is covered in 15 steps.
void encode_q4_k(std::span<const float> x, std::span<std::byte> b) {
  std::array<float, 8> step{}, offset{};
  for (std::size_t s = 0; s < 8; ++s) {
    const auto sub = x.subspan(32 * s, 32);
    const float lo = std::min(0.0f, *std::min_element(sub.begin(), sub.end()));
    const float hi = std::max(lo, *std::max_element(sub.begin(), sub.end()));
    step[s] = (hi - lo) / 15.0f;
    offset[s] = -lo;
  }
  const float d = put_f16(b, 0, *std::max_element(step.begin(), step.end()) / 63.0f);
  const float dmin = put_f16(b, 2, *std::max_element(offset.begin(), offset.end()) / 63.0f);
  std::array<std::uint32_t, 8> sc{}, mn{};
  for (std::size_t s = 0; s < 8; ++s) {
    sc[s] = static_cast<std::uint32_t>(quantize(step[s], d, 0, 63));
    mn[s] = static_cast<std::uint32_t>(quantize(offset[s], dmin, 0, 63));
  }
  for (std::size_t s = 0; s < 4; ++s) {
    put_u8(b, 4 + s, (sc[s] & 63) | ((sc[s + 4] >> 4) << 6));
    put_u8(b, 8 + s, (mn[s] & 63) | ((mn[s + 4] >> 4) << 6));
    put_u8(b, 12 + s, (sc[s + 4] & 0xF) | ((mn[s + 4] & 0xF) << 4));
  }
  for (std::size_t s = 0; s < 8; ++s) {
    const float scale = d * static_cast<float>(sc[s]);
    const float min = dmin * static_cast<float>(mn[s]);
    for (std::size_t l = 0; l < 32; ++l) {
      const auto q = static_cast<std::uint32_t>(quantize(x[32 * s + l] + min, scale, 0, 15));
      const std::size_t at = 16 + 32 * (s / 2) + l;
      put_u8(b, at, s % 2 == 0 ? q : (u8(b, at) | (q << 4)));
    }
  }
}

// Sub-block s of 16 gets value = d * scales[s] * (q - 32) with q in [0, 63] and an i8 scale.
void encode_q6_k(std::span<const float> x, std::span<std::byte> b) {
  std::array<float, 16> step{};
  float largest = 0.0f;
  for (std::size_t s = 0; s < 16; ++s) {
    step[s] = signed_max(x.subspan(16 * s, 16)) / -32.0f;
    largest = std::max(largest, std::abs(step[s]));
  }
  const float d = put_f16(b, 208, largest / 127.0f);
  std::fill(b.begin(), b.begin() + 192, std::byte{0});
  for (std::size_t s = 0; s < 16; ++s) {
    const int sc = quantize(step[s], d, -128, 127);
    put_u8(b, 192 + s, static_cast<std::uint32_t>(sc));
    const float scale = d * static_cast<float>(sc);
    for (std::size_t i = 0; i < 16; ++i) {
      const std::size_t e = 16 * s + i;
      const auto q = static_cast<std::uint32_t>(quantize(x[e], scale, -32, 31) + 32);
      const std::size_t n = e / 128, g = (e % 128) / 32, l = e % 32;
      const std::size_t low_at = 64 * n + 32 * (g % 2) + l;
      put_u8(b, low_at, u8(b, low_at) | ((q & 0xF) << (g < 2 ? 0 : 4)));
      put_u8(b, 128 + 32 * n + l, u8(b, 128 + 32 * n + l) | ((q >> 4) << (2 * g)));
    }
  }
}

void encode_block(WeightType type, std::span<const float> x, std::span<std::byte> b) {
  switch (type) {
    case WeightType::f32: put_f32(b, 0, x[0]); return;
    case WeightType::f16: put_f16(b, 0, x[0]); return;
    case WeightType::q4_0: encode_q4_0(x, b); return;
    case WeightType::q8_0: encode_q8_0(x, b); return;
    case WeightType::q4_k: encode_q4_k(x, b); return;
    case WeightType::q6_k: encode_q6_k(x, b); return;
  }
}

// row_bytes(type, elements), checked against the byte span given.
std::uint64_t check_sizes(const char* what, WeightType type, std::uint64_t elements,
                          std::uint64_t bytes) {
  const std::uint64_t need = row_bytes(type, elements);  // throws for a partial block
  if (bytes != need) {
    fail(Errc::invalid_argument, "{}: a {} row of {} elements takes {} bytes, {} were given",
         what, to_string(type), elements, need, bytes);
  }
  return need;
}

}  // namespace

void dequantize_row(WeightType type, std::span<const std::byte> src, std::span<float> dst) {
  check_sizes("dequantize_row", type, dst.size(), src.size());
  const std::size_t per_block = block_elements(type), bytes = block_bytes(type);
  for (std::size_t i = 0; i < dst.size() / per_block; ++i) {
    decode_block(type, src.subspan(i * bytes, bytes), dst.subspan(i * per_block, per_block));
  }
}

void quantize_row(WeightType type, std::span<const float> src, std::span<std::byte> dst) {
  check_sizes("quantize_row", type, src.size(), dst.size());
  const bool quantized = block_elements(type) > 1;
  if (quantized && !std::all_of(src.begin(), src.end(), [](float v) { return std::isfinite(v); })) {
    fail(Errc::invalid_argument, "quantize_row: {} cannot encode inf or NaN", to_string(type));
  }
  const std::size_t per_block = block_elements(type), bytes = block_bytes(type);
  for (std::size_t i = 0; i < src.size() / per_block; ++i) {
    encode_block(type, src.subspan(i * per_block, per_block), dst.subspan(i * bytes, bytes));
  }
}

float dot_row(WeightType type, std::span<const std::byte> row, std::span<const float> x) {
  std::vector<float> w(x.size());
  dequantize_row(type, row, w);
  double sum = 0.0;
  for (std::size_t c = 0; c < w.size(); ++c) sum += static_cast<double>(w[c]) * x[c];
  return static_cast<float>(sum);
}

}  // namespace crossgpu::kernels::reference
