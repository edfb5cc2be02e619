// Known-answer blocks of the formats that downloaded files mix in (q4_1, q5_0, q5_1, q5_k,
// iq4_nl, bf16): each test picks the quantized values first, packs them into bytes by hand
// following ggml's layout (ggml-common.h: block_q4_1, block_q5_0, ...), and checks that the
// reference decodes them to exactly the values picked. Scales at the ends of the f16 range
// (65504, the smallest subnormal), negative scales and mins, and every quant level appear.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/reference/quant.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu {
namespace {

using kernels::WeightType;
namespace quant = kernels::reference;

constexpr std::uint16_t kHalfMax = 0x7BFF;        // 65504
constexpr std::uint16_t kHalfMinusMax = 0xFBFF;   // -65504
constexpr std::uint16_t kHalfTiny = 0x0001;       // 2^-24, the smallest subnormal
constexpr std::uint16_t kHalfMinusTiny = 0x8001;  // -2^-24

float half_value(std::uint16_t bits) {
  switch (bits) {
    case kHalfMax: return 65504.0f;
    case kHalfMinusMax: return -65504.0f;
    case kHalfTiny: return std::ldexp(1.0f, -24);
    case kHalfMinusTiny: return -std::ldexp(1.0f, -24);
    case 0x3400: return 0.25f;
    case 0xC400: return -4.0f;
    case 0xB800: return -0.5f;
    case 0x3C00: return 1.0f;
  }
  ADD_FAILURE() << "no value written down for half " << bits;
  return 0.0f;
}

void put8(std::vector<std::byte>& b, std::size_t at, unsigned v) { b[at] = static_cast<std::byte>(v & 0xFF); }
void put16(std::vector<std::byte>& b, std::size_t at, unsigned v) {
  put8(b, at, v);
  put8(b, at + 1, v >> 8);
}
void put32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) {
  put16(b, at, v);
  put16(b, at + 2, v >> 16);
}

std::vector<float> decode(WeightType type, const std::vector<std::byte>& bytes) {
  std::vector<float> out(bytes.size() / kernels::block_bytes(type) * kernels::block_elements(type));
  quant::dequantize_row(type, bytes, out);
  return out;
}

// The 32 chosen levels of one 32-element block whose nibble bytes start at `qs` (element j < 16
// in the low nibble of qs[j], element j + 16 in its high nibble) and, for 5-bit formats, whose
// fifth bits form the little-endian u32 at `qh` (bit j for element j).
void pack_32(std::vector<std::byte>& b, std::size_t qs, std::ptrdiff_t qh, const int (&q)[32]) {
  std::uint32_t high = 0;
  for (int j = 0; j < 16; ++j) {
    put8(b, qs + j, (q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    high |= static_cast<std::uint32_t>(q[j] >> 4) << j;
    high |= static_cast<std::uint32_t>(q[j + 16] >> 4) << (j + 16);
  }
  if (qh >= 0) put32(b, static_cast<std::size_t>(qh), high);
}

// Levels 0 .. 2^bits - 1 all used, in a scrambled order.
void levels(int bits, int salt, int (&q)[32]) {
  const int n = 1 << bits;
  for (int j = 0; j < 32; ++j) q[j] = (j * (n == 16 ? 7 : 13) + salt) % n;
}

// Two blocks: d = -65504, m = 65504 (a negative scale over the whole f16 range), then the
// smallest subnormal d with m = -0.5.
TEST(QuantBlocksOfDownloads, Q4_1DecodesAsBuiltByHand) {
  const std::uint16_t d[] = {kHalfMinusMax, kHalfTiny}, m[] = {kHalfMax, 0xB800};
  std::vector<std::byte> b(40);
  int q[2][32];
  for (int k = 0; k < 2; ++k) {
    put16(b, 20 * k, d[k]);
    put16(b, 20 * k + 2, m[k]);
    levels(4, 3 * k, q[k]);
    pack_32(b, 20 * k + 4, -1, q[k]);
  }
  const auto v = decode(WeightType::q4_1, b);
  for (int k = 0; k < 2; ++k) {
    for (int j = 0; j < 32; ++j) {
      const double want = double{half_value(d[k])} * q[k][j] + half_value(m[k]);
      EXPECT_EQ(v[32 * k + j], static_cast<float>(want)) << k << " " << j;
    }
  }
  EXPECT_EQ(v[0], 65504.0f);  // q = 0: the min alone
}

// d = 65504 (so -16 * d = -1048064) and d = -2^-24; every 5-bit level.
TEST(QuantBlocksOfDownloads, Q5_0DecodesAsBuiltByHand) {
  const std::uint16_t d[] = {kHalfMax, kHalfMinusTiny};
  std::vector<std::byte> b(44);
  int q[2][32];
  for (int k = 0; k < 2; ++k) {
    put16(b, 22 * k, d[k]);
    levels(5, 5 + k, q[k]);
    pack_32(b, 22 * k + 6, 22 * k + 2, q[k]);
  }
  const auto v = decode(WeightType::q5_0, b);
  for (int k = 0; k < 2; ++k) {
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(v[32 * k + j], static_cast<float>(double{half_value(d[k])} * (q[k][j] - 16))) << k << " " << j;
    }
  }
  EXPECT_EQ(v[7], 65504.0f * -16.0f);  // q = (7 * 13 + 5) % 32 = 0
}

// d = 0.25, m = -4; then d = 65504, m = -65504.
TEST(QuantBlocksOfDownloads, Q5_1DecodesAsBuiltByHand) {
  const std::uint16_t d[] = {0x3400, kHalfMax}, m[] = {0xC400, kHalfMinusMax};
  std::vector<std::byte> b(48);
  int q[2][32];
  for (int k = 0; k < 2; ++k) {
    put16(b, 24 * k, d[k]);
    put16(b, 24 * k + 2, m[k]);
    levels(5, 9 * k, q[k]);
    pack_32(b, 24 * k + 8, 24 * k + 4, q[k]);
  }
  const auto v = decode(WeightType::q5_1, b);
  for (int k = 0; k < 2; ++k) {
    for (int j = 0; j < 32; ++j) {
      const double want = double{half_value(d[k])} * q[k][j] + half_value(m[k]);
      EXPECT_EQ(v[32 * k + j], static_cast<float>(want)) << k << " " << j;
    }
  }
  EXPECT_EQ(v[32 + 14], 65504.0f * 30.0f);  // q = (14 * 13 + 9) % 32 = 31: 31 d - 65504
}

// ggml's kvalues_iq4nl, written out again: the levels a nibble indexes.
constexpr int kLevels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// d = 65504 (level -127 gives -8318008) and d = -2^-24; every nibble in both halves.
TEST(QuantBlocksOfDownloads, Iq4NlDecodesAsBuiltByHand) {
  const std::uint16_t d[] = {kHalfMax, kHalfMinusTiny};
  std::vector<std::byte> b(36);
  int q[2][32];
  for (int k = 0; k < 2; ++k) {
    put16(b, 18 * k, d[k]);
    levels(4, 11 * k, q[k]);
    pack_32(b, 18 * k + 2, -1, q[k]);
  }
  const auto v = decode(WeightType::iq4_nl, b);
  for (int k = 0; k < 2; ++k) {
    for (int j = 0; j < 32; ++j) {
      EXPECT_EQ(v[32 * k + j], static_cast<float>(double{half_value(d[k])} * kLevels[q[k][j]])) << k << " " << j;
    }
  }
  EXPECT_EQ(v[0], -127.0f * 65504.0f);  // q[0][0] = 0
}

// The 6-bit scale and min of 8 sub-blocks packed into the 12 bytes of q4_k / q5_k: the first
// four in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins), the last four in the nibbles of
// bytes 8-11 (scale low, min high) with their top 2 bits in the top bits of bytes 0-7.
void pack_scales(std::vector<std::byte>& b, std::size_t at, const int (&sc)[8], const int (&mn)[8]) {
  for (int s = 0; s < 4; ++s) {
    put8(b, at + s, (sc[s] & 63) | ((sc[s + 4] >> 4) << 6));
    put8(b, at + 4 + s, (mn[s] & 63) | ((mn[s + 4] >> 4) << 6));
    put8(b, at + 8 + s, (sc[s + 4] & 0xF) | ((mn[s + 4] & 0xF) << 4));
  }
}

// d = -0.5, dmin = 65504; scales and mins 0 and 63 among others; q(e) takes all 32 levels.
// Byte 48 + 32p + l of qs: the low 4 bits of element l of sub-block 2p (low nibble) and of
// 2p + 1 (high nibble); byte 16 + l of qh: their fifth bits, bit s for sub-block s.
TEST(QuantBlocksOfDownloads, Q5_KDecodesAsBuiltByHand) {
  const int sc[8] = {0, 1, 17, 31, 32, 45, 62, 63};
  const int mn[8] = {63, 0, 5, 33, 16, 47, 1, 62};
  auto q_of = [](int e) { return (e * 11 + 3) % 32; };
  std::vector<std::byte> b(176);
  put16(b, 0, 0xB800);
  put16(b, 2, kHalfMax);
  pack_scales(b, 4, sc, mn);
  for (int l = 0; l < 32; ++l) {
    int high = 0;
    for (int s = 0; s < 8; ++s) high |= (q_of(32 * s + l) >> 4) << s;
    put8(b, 16 + l, high);
    for (int p = 0; p < 4; ++p) put8(b, 48 + 32 * p + l, (q_of(64 * p + l) & 0xF) | ((q_of(64 * p + 32 + l) & 0xF) << 4));
  }
  const auto v = decode(WeightType::q5_k, b);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32;
    const double want = -0.5 * sc[s] * q_of(e) - 65504.0 * mn[s];
    EXPECT_EQ(v[e], static_cast<float>(want)) << e;
  }
  EXPECT_EQ(v[0], -65504.0f * 63.0f);  // scale 0: the min alone
  EXPECT_EQ(v[255], static_cast<float>(-0.5 * 63 * q_of(255) - 65504.0 * 62));
}

// bf16 is the top half of an f32: 1, -3.140625, -max, inf, NaN, the smallest subnormal 2^-133.
TEST(QuantBlocksOfDownloads, Bf16IsTheTopHalfOfAnF32) {
  const std::uint16_t bits[] = {0x3F80, 0xC049, 0xFF7F, 0x7F80, 0x7FC0, 0x0001};
  std::vector<std::byte> b(2 * std::size(bits));
  for (std::size_t i = 0; i < std::size(bits); ++i) put16(b, 2 * i, bits[i]);
  const auto v = decode(WeightType::bf16, b);
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -3.140625f);
  EXPECT_EQ(v[2], -0x1.FEp127f);
  EXPECT_EQ(v[3], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_EQ(v[5], std::ldexp(1.0f, -133));
}

// The encoder rounds to nearest, ties to even, and keeps NaN a NaN (bf16 stores any f32).
TEST(QuantBlocksOfDownloads, Bf16EncodesToNearestEven) {
  const float x[] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, -1.0f - 0x1.8p-8f, std::nanf(""), 0x1.FFFFFEp127f, -0.0f};
  std::vector<std::byte> b(2 * std::size(x));
  quant::quantize_row(WeightType::bf16, x, b);
  const auto v = decode(WeightType::bf16, b);
  EXPECT_EQ(v[0], 1.0f);             // tie: down to the even mantissa
  EXPECT_EQ(v[1], 1.0f + 0x1p-6f);   // tie: up to the even mantissa
  EXPECT_EQ(v[2], -1.0f - 0x1p-7f);  // above the tie: away
  EXPECT_TRUE(std::isnan(v[3]));
  EXPECT_EQ(v[4], std::numeric_limits<float>::infinity());  // past bf16's largest: rounds to inf
  EXPECT_TRUE(std::signbit(v[5]));
}

}  // namespace
}  // namespace crossgpu
