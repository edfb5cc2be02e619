// The weight formats on the host: type facts, blocks built by hand and decoded exactly, and
// quantize -> dequantize round trips within each format's error bound on fresh random rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/reference/half.hpp"
#include "kernels/reference/quant.hpp"
#include "kernels/weight_type.hpp"
#include "support/test_support.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using kernels::WeightType;
using testing::throws_errc;
namespace quant = kernels::reference;

constexpr const auto& kTypes = kernels::kWeightTypes;

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

void put_half(std::vector<std::byte>& b, std::size_t at, std::uint16_t bits) {
  b[at] = static_cast<std::byte>(bits & 0xFF);
  b[at + 1] = static_cast<std::byte>(bits >> 8);
}

std::vector<float> decoded(WeightType type, const std::vector<std::byte>& block) {
  std::vector<float> out(kernels::block_elements(type));
  quant::dequantize_row(type, block, out);
  return out;
}

TEST(WeightType, NumbersAndSizesAreGgmls) {
  // ggml's type numbers and sizeof(block_*) (ggml-common.h), written out here on their own.
  const std::uint32_t numbers[] = {0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 20, 30};
  const std::uint64_t elements[] = {1, 1, 32, 32, 32, 32, 32, 256, 256, 256, 32, 1};
  const std::uint64_t bytes[] = {4, 2, 18, 20, 22, 24, 34, 144, 176, 210, 18, 2};
  const char* names[] = {"f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k", "iq4_nl", "bf16"};
  ASSERT_EQ(std::size(kTypes), std::size(numbers));
  for (std::size_t i = 0; i < std::size(kTypes); ++i) {
    EXPECT_EQ(kernels::weight_type_from(numbers[i]), kTypes[i]);
    EXPECT_EQ(kernels::block_elements(kTypes[i]), elements[i]);
    EXPECT_EQ(kernels::block_bytes(kTypes[i]), bytes[i]);
    EXPECT_STREQ(kernels::to_string(kTypes[i]), names[i]);
    EXPECT_EQ(kernels::weight_type_named(names[i]), kTypes[i]);
    EXPECT_NE(std::string(kernels::weight_type_names()).find(names[i]), std::string::npos);
    EXPECT_EQ(kernels::row_bytes(kTypes[i], elements[i] * 3), bytes[i] * 3);
  }
  // Q8_1, Q2_K, Q3_K, Q8_K, IQ2_XXS, IQ4_XS, I8, F64 and garbage: not read by the kernels.
  for (std::uint32_t other : {4u, 5u, 9u, 10u, 11u, 15u, 16u, 23u, 24u, 28u, 0xFFFFFFFFu}) {
    EXPECT_FALSE(kernels::weight_type_from(other)) << other;
  }
  EXPECT_FALSE(kernels::weight_type_named("Q5_K"));  // the spelling is to_string's
  EXPECT_FALSE(kernels::weight_type_named(""));
  EXPECT_EQ(kernels::row_bytes(WeightType::f16, 7), 14u);
  EXPECT_TRUE(throws_errc([] { kernels::row_bytes(WeightType::q4_0, 48); },
                          Errc::invalid_argument, "whole blocks of 32"));
  EXPECT_TRUE(throws_errc([] { kernels::row_bytes(WeightType::q6_k, 32); },
                          Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([] { kernels::block_bytes(static_cast<WeightType>(10)); },
                          Errc::invalid_argument, "weight type 10"));
}

// d = 0.5; qs[j] = j | (15 - j) << 4: element j is 0.5 * (j - 8), element 16 + j 0.5 * (7 - j).
TEST(QuantBlocks, Q4_0DecodesAsBuiltByHand) {
  std::vector<std::byte> block(18);
  put_half(block, 0, 0x3800);
  for (int j = 0; j < 16; ++j) block[2 + j] = static_cast<std::byte>(j | ((15 - j) << 4));
  const auto v = decoded(WeightType::q4_0, block);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(v[j], 0.5f * static_cast<float>(j - 8)) << j;
    EXPECT_EQ(v[16 + j], 0.5f * static_cast<float>(7 - j)) << j;
  }
}

// d = -0.25; qs[j] = j - 16 (signed bytes).
TEST(QuantBlocks, Q8_0DecodesAsBuiltByHand) {
  std::vector<std::byte> block(34);
  put_half(block, 0, 0xB400);
  for (int j = 0; j < 32; ++j) block[2 + j] = static_cast<std::byte>(static_cast<std::uint8_t>(j - 16));
  const auto v = decoded(WeightType::q8_0, block);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(v[j], -0.25f * static_cast<float>(j - 16)) << j;
}

// d = 1, dmin = 0.5; sub-block scales {1, 2, 3, 4, 33, 45, 50, 63} and mins
// {0, 5, 10, 63, 17, 32, 48, 60}, packed by hand into the 12 bytes below (6 bits each: the
// first four in the low bits of bytes 0-3 and 4-7, the last four split into the nibbles of
// bytes 8-11 and the top 2 bits of bytes 0-7). Byte 32p + l of qs: low nibble l % 16 (sub-block
// 2p), high nibble 15 - l % 16 (sub-block 2p + 1).
TEST(QuantBlocks, Q4_KDecodesAsBuiltByHand) {
  const int scale[] = {1, 2, 3, 4, 33, 45, 50, 63};
  const int min[] = {0, 5, 10, 63, 17, 32, 48, 60};
  std::vector<std::byte> block(144);
  put_half(block, 0, 0x3C00);
  put_half(block, 2, 0x3800);
  const auto packed = bytes_of({0x81, 0x82, 0xc3, 0xc4, 0x40, 0x85, 0xca, 0xff, 0x11, 0x0d, 0x02, 0xcf});
  std::copy(packed.begin(), packed.end(), block.begin() + 4);
  for (int i = 0; i < 128; ++i) {
    const int l = i % 32;
    block[16 + i] = static_cast<std::byte>((l % 16) | ((15 - l % 16) << 4));
  }
  const auto v = decoded(WeightType::q4_k, block);
  for (int e = 0; e < 256; ++e) {
    const int s = e / 32, l = e % 32;
    const int q = s % 2 == 0 ? l % 16 : 15 - l % 16;
    EXPECT_EQ(v[e], static_cast<float>(scale[s] * q) - 0.5f * static_cast<float>(min[s])) << e;
  }
}

// d = 0.125, scales[i] = i - 8; element e holds q = (7 * e) % 64. Packed byte by byte: ql byte
// 64n + 32h + l holds (low nibble) element 128n + 32h + l and (high nibble) element
// 128n + 32(h + 2) + l; qh byte 32n + l holds the top 2 bits of elements 128n + 32g + l at bits
// 2g, 2g + 1.
TEST(QuantBlocks, Q6_KDecodesAsBuiltByHand) {
  auto q_of = [](int e) { return (7 * e) % 64; };
  std::vector<std::byte> block(210);
  for (int i = 0; i < 128; ++i) {
    const int n = i / 64, h = (i % 64) / 32, l = i % 32;
    const int lo = q_of(128 * n + 32 * h + l) & 0xF;
    const int hi = q_of(128 * n + 32 * (h + 2) + l) & 0xF;
    block[i] = static_cast<std::byte>(lo | (hi << 4));
  }
  for (int i = 0; i < 64; ++i) {
    const int n = i / 32, l = i % 32;
    int bits = 0;
    for (int g = 0; g < 4; ++g) bits |= (q_of(128 * n + 32 * g + l) >> 4) << (2 * g);
    block[128 + i] = static_cast<std::byte>(bits);
  }
  for (int i = 0; i < 16; ++i) block[192 + i] = static_cast<std::byte>(static_cast<std::uint8_t>(i - 8));
  put_half(block, 208, 0x3000);
  const auto v = decoded(WeightType::q6_k, block);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(v[e], 0.125f * static_cast<float>((e / 16 - 8) * (q_of(e) - 32))) << e;
  }
  EXPECT_EQ(v[0], 0.125f * -8 * -32);  // e = 0: q = 0, scale -8
  EXPECT_EQ(v[255], 0.125f * 7 * ((7 * 255) % 64 - 32));
}

TEST(QuantBlocks, PlainTypesAreLittleEndian) {
  const auto f32 = bytes_of({0x00, 0x00, 0xC0, 0x3F});  // 1.5f
  EXPECT_EQ(decoded(WeightType::f32, f32)[0], 1.5f);
  const auto f16 = bytes_of({0x00, 0xBE});  // -1.5 as a half
  EXPECT_EQ(decoded(WeightType::f16, f16)[0], -1.5f);
}

// How far rounding v to f16 can move it: relative 2^-11, or half the subnormal spacing 2^-24.
double f16_error(double v) { return std::abs(v) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25); }

// The largest error the encoder may make on element i of `x`: half a quantization step of its
// block, plus the clamp at the narrow end of the range and the rounding of the scales.
double error_bound(WeightType type, const std::vector<float>& x, std::size_t i) {
  auto amax = [&](std::size_t size) {
    const std::size_t first = i / size * size;
    double out = 0.0;
    for (std::size_t j = first; j < first + size; ++j) out = std::max(out, std::abs(double{x[j]}));
    return out;
  };
  // The block's range (largest minus smallest), for the formats with a min.
  auto spread = [&](std::size_t size) {
    const std::size_t first = i / size * size;
    const auto [lo, hi] = std::minmax_element(x.begin() + first, x.begin() + first + size);
    return double{*hi} - *lo;
  };
  switch (type) {
    case WeightType::f32: return 0.0;
    // 8 significant bits: half an ulp is at most 2^-8 relative (bf16 has f32's exponents).
    case WeightType::bf16: return std::abs(double{x[i]}) * std::ldexp(1.0, -8);
    // Step range / levels: half a step, the f16 rounding of the step over every level, and of
    // the min (an element below the stored min clamps to level 0).
    case WeightType::q4_1: return spread(32) / 30.0 * (1.0 + 1e-6) + 16.0 * f16_error(spread(32) / 15.0) + f16_error(amax(32));
    case WeightType::q5_1: return spread(32) / 62.0 * (1.0 + 1e-6) + 32.0 * f16_error(spread(32) / 31.0) + f16_error(amax(32));
    // As q4_0 with 32 levels: step amax / 16.
    case WeightType::q5_0: return amax(32) / 16.0 * (1.0 + 1e-6) + 15.0 * f16_error(amax(32) / 16.0);
    // The extreme is level -127; the other sign reaches +113 at most (14 / 127 short), and the
    // widest gap between levels is 24 (half: 12 / 127); d's f16 rounding over 127 levels.
    case WeightType::iq4_nl: return amax(32) * (14.0 / 127.0 + 1e-3);
    // As q4_k with 31 steps per sub-block.
    case WeightType::q5_k: return amax(256) * 2.0 * (0.5 / 31.0 + 1.0 / 126.0 + 1.0 / 126.0) * 1.01;
    // Relative 2^-11, or half the subnormal spacing 2^-24 below 2^-14.
    case WeightType::f16: return f16_error(x[i]);
    // Step amax / 8; an element at the +7 end can be a full step away, plus 7 times the f16
    // rounding of the step.
    case WeightType::q4_0: return amax(32) / 8.0 * (1.0 + 1e-6) + 7.0 * f16_error(amax(32) / 8.0);
    case WeightType::q8_0: return amax(32) / 254.0 + amax(32) * 1e-3;
    // Step at most (range of the super-block) / 15, scales rounded to 1/63 of the largest.
    case WeightType::q4_k: return amax(256) * 2.0 * (0.5 / 15.0 + 15.0 / 126.0 / 15.0 + 1.0 / 126.0) * 1.01;
    // Step amax(16) / 32, the i8 scale rounded to 1/127 of the largest step, whose f16 (often
    // subnormal: amax 2^-6 gives 3.8e-6) is itself rounded; 31 steps reach the +31 end.
    case WeightType::q6_k: {
      const double largest_step = amax(256) / 32.0;
      return amax(16) / 32.0 * 1.01 +
             31.0 * (largest_step / 254.0 + 127.0 * f16_error(largest_step / 127.0));
    }
  }
  return 0.0;
}

TEST(QuantRoundTrip, ErrorsStayWithinEachFormatsBound) {
  testing::Rng rng;
  // Relative RMS error: a layout mix-up would pass the bound check only by luck, never this.
  // In kTypes' order: f32 f16 q4_0 q4_1 q5_0 q5_1 q8_0 q4_k q5_k q6_k iq4_nl bf16.
  // Measured: 0, 1.9e-4, 0.068, 0.062, 0.032, 0.030, 0.0038, 0.061, 0.030, 0.015, 0.069, 0.0015.
  const double rms_limits[] = {0.0, 4e-4, 0.09, 0.085, 0.045, 0.042, 0.006, 0.085, 0.042, 0.025, 0.09, 2.2e-3};
  static_assert(std::size(rms_limits) == std::size(kTypes));
  for (std::size_t t = 0; t < std::size(kTypes); ++t) {
    const WeightType type = kTypes[t];
    SCOPED_TRACE(kernels::to_string(type));
    // Blocks of very different magnitudes, so that per-block scales matter.
    std::vector<float> x;
    for (int block = 0; block < 24; ++block) {
      const float magnitude = std::ldexp(1.0f, static_cast<int>(rng.next() % 12) - 6);
      for (float v : rng.floats(256, -magnitude, magnitude)) x.push_back(v);
    }
    std::fill(x.begin() + 256, x.begin() + 512, 0.0f);  // an all-zero block
    std::vector<std::byte> encoded(kernels::row_bytes(type, x.size()));
    quant::quantize_row(type, x, encoded);
    std::vector<float> back(x.size());
    quant::dequantize_row(type, encoded, back);
    double err2 = 0.0, x2 = 0.0;
    std::size_t bad = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double err = std::abs(double{back[i]} - x[i]);
      if (err > error_bound(type, x, i) && bad++ < 5) {
        ADD_FAILURE() << "element " << i << ": " << x[i] << " came back as " << back[i];
      }
      err2 += err * err;
      x2 += double{x[i]} * x[i];
    }
    const double rms = std::sqrt(err2 / x2);
    EXPECT_LE(rms, rms_limits[t]) << "relative RMS error " << rms;
    for (std::size_t i = 256; i < 512; ++i) ASSERT_EQ(back[i], 0.0f) << i;
  }
}

TEST(QuantRoundTrip, SizesAreChecked) {
  std::vector<float> x(64);
  std::vector<std::byte> b(36);
  EXPECT_NO_THROW(quant::quantize_row(WeightType::q4_0, x, b));
  EXPECT_TRUE(throws_errc([&] { quant::quantize_row(WeightType::q4_0, x, std::span(b).first(35)); },
                          Errc::invalid_argument, "36 bytes"));
  EXPECT_TRUE(throws_errc([&] { quant::quantize_row(WeightType::q4_0, std::span(x).first(48), b); },
                          Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { quant::dequantize_row(WeightType::q8_0, b, x); },
                          Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { quant::dequantize_row(WeightType::q4_k, b, x); },
                          Errc::invalid_argument));
  x[3] = std::nanf("");
  EXPECT_TRUE(throws_errc([&] { quant::quantize_row(WeightType::q8_0, x, std::span(b).first(0)); },
                          Errc::invalid_argument));
  std::vector<std::byte> q8(68);
  EXPECT_TRUE(throws_errc([&] { quant::quantize_row(WeightType::q8_0, x, q8); },
                          Errc::invalid_argument, "NaN"));
}

}  // namespace
}  // namespace crossgpu
