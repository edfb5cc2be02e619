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

// IQ4_NL's 16 levels (ggml's kvalues_iq4nl): a nibble indexes this table instead of being an
// offset integer.
constexpr std::array<int, 16> kIq4nlValues = {-127, -104, -83, -65, -49, -35, -22, -10,
                                              1,    13,   25,  38,  53,  69,  89,  113};

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
std::uint32_t u32(std::span<const std::byte> b, std::size_t i) {
  return u8(b, i) | (u8(b, i + 1) << 8) | (u8(b, i + 2) << 16) | (u8(b, i + 3) << 24);
}
float f32(std::span<const std::byte> b, std::size_t i) {
  const std::uint32_t bits = u32(b, i);
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
void put_u32(std::span<std::byte> b, std::size_t i, std::uint32_t v) {
  put_u16(b, i, v);
  put_u16(b, i + 2, v >> 16);
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

// q4_1, q5_1: value = d * q + m, q unsigned.
void decode_q4_1(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 0), m = f16(b, 2);
  for (std::size_t j = 0; j < 16; ++j) {
    out[j] = d * static_cast<float>(u8(b, 4 + j) & 0xF) + m;
    out[j + 16] = d * static_cast<float>(u8(b, 4 + j) >> 4) + m;
  }
}

// The 5-bit q of element j (< 32) of a q5_0 / q5_1 block whose 32-bit high-bit mask is `qh` and
// whose nibbles start at byte `qs`.
std::uint32_t q5_quant(std::span<const std::byte> b, std::uint32_t qh, std::size_t qs, std::size_t j) {
  const std::uint32_t nibble = (u8(b, qs + j % 16) >> (j < 16 ? 0 : 4)) & 0xF;
  return nibble | (((qh >> j) & 1) << 4);
}

void decode_q5_0(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 0);
  const std::uint32_t qh = u32(b, 2);
  for (std::size_t j = 0; j < 32; ++j) out[j] = d * static_cast<float>(static_cast<int>(q5_quant(b, qh, 6, j)) - 16);
}

void decode_q5_1(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 0), m = f16(b, 2);
  const std::uint32_t qh = u32(b, 4);
  for (std::size_t j = 0; j < 32; ++j) out[j] = d * static_cast<float>(q5_quant(b, qh, 8, j)) + m;
}

void decode_iq4_nl(std::span<const std::byte> b, std::span<float> out) {
  const float d = f16(b, 0);
  for (std::size_t j = 0; j < 16; ++j) {
    out[j] = d * static_cast<float>(kIq4nlValues[u8(b, 2 + j) & 0xF]);
    out[j + 16] = d * static_cast<float>(kIq4nlValues[u8(b, 2 + j) >> 4]);
  }
}

float bf16(std::span<const std::byte> b, std::size_t i) {
  const std::uint32_t bits = (u8(b, i) | (u8(b, i + 1) << 8)) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
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

// q4_k and q5_k: value = d * sc * q - dmin * m per sub-block s. The low 4 bits of element l are
// a nibble of qs[32 * (s / 2) + l] (low for even s), qs starting at byte 16 (q4_k) or 48 (q5_k);
// q5_k's fifth bit is bit s of qh[l], qh at byte 16.
void decode_k_min(std::span<const std::byte> b, std::span<float> out, bool fifth) {
  const float d = f16(b, 0);
  const float dmin = f16(b, 2);
  const std::size_t qs = fifth ? 48 : 16;
  for (std::size_t s = 0; s < 8; ++s) {
    const ScaleMin sm = q4_k_scale_min(b.subspan(4, 12), s);
    const float scale = d * static_cast<float>(sm.scale);
    const float min = dmin * static_cast<float>(sm.min);
    const unsigned shift = (s % 2) * 4;
    for (std::size_t l = 0; l < 32; ++l) {
      const std::uint32_t low = (u8(b, qs + 32 * (s / 2) + l) >> shift) & 0xF;
      const std::uint32_t high = fifth ? (u8(b, 16 + l) >> s) & 1 : 0;
      out[32 * s + l] = scale * static_cast<float>(low | (high << 4)) - min;
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
    case WeightType::bf16: out[0] = bf16(b, 0); return;
    case WeightType::q4_0: decode_q4_0(b, out); return;
    case WeightType::q4_1: decode_q4_1(b, out); return;
    case WeightType::q5_0: decode_q5_0(b, out); return;
    case WeightType::q5_1: decode_q5_1(b, out); return;
    case WeightType::q8_0: decode_q8_0(b, out); return;
    case WeightType::q4_k: decode_k_min(b, out, false); return;
    case WeightType::q5_k: decode_k_min(b, out, true); return;
    case WeightType::q6_k: decode_q6_k(b, out); return;
    case WeightType::iq4_nl: decode_iq4_nl(b, out); return;
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

// q = x / step rounded into [lo, hi], or the level nearest 0 for a zero step (then every x of
// the block is alike).
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

// The block's smallest and largest element.
struct Range {
  float lo, hi;
};
Range range_of(std::span<const float> x) {
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  return {*lo, *hi};
}

// q4_1 / q5_1: value = d * q + m with q in [0, levels], m the block's minimum.
void encode_offset_block(std::span<const float> x, std::span<std::byte> b, int levels, bool five_bits) {
  const Range r = range_of(x);
  const float d = put_f16(b, 0, (r.hi - r.lo) / static_cast<float>(levels));
  const float m = put_f16(b, 2, r.lo);
  const std::size_t qs = five_bits ? 8 : 4;
  std::uint32_t qh = 0;
  for (std::size_t j = 0; j < 16; ++j) {
    const auto lo = static_cast<std::uint32_t>(quantize(x[j] - m, d, 0, levels));
    const auto hi = static_cast<std::uint32_t>(quantize(x[j + 16] - m, d, 0, levels));
    put_u8(b, qs + j, (lo & 0xF) | ((hi & 0xF) << 4));
    qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
  }
  if (five_bits) put_u32(b, 4, qh);
}

void encode_q5_0(std::span<const float> x, std::span<std::byte> b) {
  // As q4_0: the extreme maps to -16.
  const float d = put_f16(b, 0, signed_max(x) / -16.0f);
  std::uint32_t qh = 0;
  for (std::size_t j = 0; j < 16; ++j) {
    const auto lo = static_cast<std::uint32_t>(quantize(x[j], d, -16, 15) + 16);
    const auto hi = static_cast<std::uint32_t>(quantize(x[j + 16], d, -16, 15) + 16);
    put_u8(b, 6 + j, (lo & 0xF) | ((hi & 0xF) << 4));
    qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
  }
  put_u32(b, 2, qh);
}

// The extreme maps to level -127 (index 0); every element takes the index of its nearest level.
void encode_iq4_nl(std::span<const float> x, std::span<std::byte> b) {
  const float d = put_f16(b, 0, signed_max(x) / -127.0f);
  auto index = [&](float v) {
    const float target = d == 0.0f ? 0.0f : v / d;
    std::uint32_t best = 0;
    for (std::uint32_t i = 1; i < 16; ++i) {
      if (std::abs(static_cast<float>(kIq4nlValues[i]) - target) <
          std::abs(static_cast<float>(kIq4nlValues[best]) - target)) {
        best = i;
      }
    }
    return best;
  };
  for (std::size_t j = 0; j < 16; ++j) put_u8(b, 2 + j, index(x[j]) | (index(x[j + 16]) << 4));
}

// Round to nearest even, as ggml converts; NaN stays a (quiet) NaN.
void put_bf16(std::span<std::byte> b, std::size_t i, float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if (std::isnan(value)) {
    put_u16(b, i, (bits >> 16) | 0x40);
    return;
  }
  put_u16(b, i, (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

// The super-block scales of q4_k and q5_k: sub-block s gets value = d * sc * q - dmin * m with q
// in [0, levels], its range [lo, hi] (lo <= 0 so that the min is subtracted) covered in `levels`
// steps; d, dmin and the packed 6-bit sc and m are written, and the step and min of each
// sub-block as the decoder will see them are returned.
struct KScales {
  std::array<float, 8> scale{}, min{};
};
KScales encode_k_scales(std::span<const float> x, std::span<std::byte> b, int levels) {
  std::array<float, 8> step{}, offset{};
  for (std::size_t s = 0; s < 8; ++s) {
    const Range r = range_of(x.subspan(32 * s, 32));
    const float lo = std::min(0.0f, r.lo);
    step[s] = (std::max(lo, r.hi) - lo) / static_cast<float>(levels);
    offset[s] = -lo;
  }
  const float d = put_f16(b, 0, *std::max_element(step.begin(), step.end()) / 63.0f);
  const float dmin = put_f16(b, 2, *std::max_element(offset.begin(), offset.end()) / 63.0f);
  std::array<std::uint32_t, 8> sc{}, mn{};
  KScales out;
  for (std::size_t s = 0; s < 8; ++s) {
    sc[s] = static_cast<std::uint32_t>(quantize(step[s], d, 0, 63));
    mn[s] = static_cast<std::uint32_t>(quantize(offset[s], dmin, 0, 63));
    out.scale[s] = d * static_cast<float>(sc[s]);
    out.min[s] = dmin * static_cast<float>(mn[s]);
  }
  for (std::size_t s = 0; s < 4; ++s) {
    put_u8(b, 4 + s, (sc[s] & 63) | ((sc[s + 4] >> 4) << 6));
    put_u8(b, 8 + s, (mn[s] & 63) | ((mn[s + 4] >> 4) << 6));
    put_u8(b, 12 + s, (sc[s + 4] & 0xF) | ((mn[s + 4] & 0xF) << 4));
  }
  return out;
}

// Sub-block s's q of element l is the nibble of qs[32 * (s / 2) + l] (low for even s).
void encode_q4_k(std::span<const float> x, std::span<std::byte> b) {
  const KScales k = encode_k_scales(x, b, 15);
  std::fill(b.begin() + 16, b.end(), std::byte{0});
  for (std::size_t s = 0; s < 8; ++s) {
    for (std::size_t l = 0; l < 32; ++l) {
      const auto q = static_cast<std::uint32_t>(quantize(x[32 * s + l] + k.min[s], k.scale[s], 0, 15));
      const std::size_t at = 16 + 32 * (s / 2) + l;
      put_u8(b, at, u8(b, at) | (q << ((s % 2) * 4)));
    }
  }
}

// As q4_k with q in [0, 31]: the low 4 bits at qs (byte 48 on), the fifth as bit s of qh[l].
void encode_q5_k(std::span<const float> x, std::span<std::byte> b) {
  const KScales k = encode_k_scales(x, b, 31);
  std::fill(b.begin() + 16, b.end(), std::byte{0});
  for (std::size_t s = 0; s < 8; ++s) {
    for (std::size_t l = 0; l < 32; ++l) {
      const auto q = static_cast<std::uint32_t>(quantize(x[32 * s + l] + k.min[s], k.scale[s], 0, 31));
      const std::size_t at = 48 + 32 * (s / 2) + l;
      put_u8(b, at, u8(b, at) | ((q & 0xF) << ((s % 2) * 4)));
      put_u8(b, 16 + l, u8(b, 16 + l) | ((q >> 4) << s));
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
    case WeightType::bf16: put_bf16(b, 0, x[0]); return;
    case WeightType::q4_0: encode_q4_0(x, b); return;
    case WeightType::q4_1: encode_offset_block(x, b, 15, false); return;
    case WeightType::q5_0: encode_q5_0(x, b); return;
    case WeightType::q5_1: encode_offset_block(x, b, 31, true); return;
    case WeightType::q8_0: encode_q8_0(x, b); return;
    case WeightType::q4_k: encode_q4_k(x, b); return;
    case WeightType::q5_k: encode_q5_k(x, b); return;
    case WeightType::q6_k: encode_q6_k(x, b); return;
    case WeightType::iq4_nl: encode_iq4_nl(x, b); return;
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
