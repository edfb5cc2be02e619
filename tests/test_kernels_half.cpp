// f16 <-> f32 conversion: exhaustive round trips, the IEEE special cases, and round-to-nearest-
// even checked against the definition (the nearest half, ties to the even one) on random floats.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "kernels/reference/half.hpp"
#include "test_ops_support.hpp"

namespace crossgpu::reference {
namespace {

std::uint16_t half_bits_of(float value) { return bits(to_half(value)); }
Half half(std::uint16_t value) { return static_cast<Half>(value); }

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (std::uint32_t i = 0; i < 0x10000; ++i) {
    const Half h = half(static_cast<std::uint16_t>(i));
    const float f = to_float(h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(to_float(to_half(f)))) << "bits " << i;
    } else {
      ASSERT_EQ(bits(to_half(f)), i) << "value " << f;
    }
  }
}

TEST(Half, KnownValues) {
  EXPECT_EQ(half_bits_of(0.0f), 0x0000);
  EXPECT_EQ(half_bits_of(-0.0f), 0x8000);
  EXPECT_EQ(half_bits_of(1.0f), 0x3c00);
  EXPECT_EQ(half_bits_of(-2.0f), 0xc000);
  EXPECT_EQ(half_bits_of(0.5f), 0x3800);
  EXPECT_EQ(half_bits_of(65504.0f), 0x7bff);             // largest finite
  EXPECT_EQ(half_bits_of(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(half_bits_of(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(half_bits_of(std::ldexp(1023.0f, -24)), 0x03ff);  // largest subnormal
  EXPECT_EQ(to_float(half(0x3555)), 0.333251953125f);
  EXPECT_EQ(to_float(half(0x0001)), std::ldexp(1.0f, -24));
  EXPECT_EQ(to_float(half(0x8001)), -std::ldexp(1.0f, -24));
}

TEST(Half, InfinitiesAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(half_bits_of(inf), 0x7c00);
  EXPECT_EQ(half_bits_of(-inf), 0xfc00);
  EXPECT_EQ(to_float(half(0x7c00)), inf);
  EXPECT_EQ(to_float(half(0xfc00)), -inf);
  EXPECT_TRUE(std::isnan(to_float(to_half(std::numeric_limits<float>::quiet_NaN()))));
  // A signalling NaN whose payload lies entirely in the bits that are dropped stays a NaN.
  EXPECT_TRUE(std::isnan(to_float(to_half(std::bit_cast<float>(0x7f800001u)))));
  EXPECT_TRUE(std::isnan(to_float(half(0x7e00))));
}

TEST(Half, OverflowRoundsToInfinityAtTheHalfwayPoint) {
  EXPECT_EQ(half_bits_of(65519.996f), 0x7bff);  // below 65520: rounds down to 65504
  EXPECT_EQ(half_bits_of(65520.0f), 0x7c00);    // the tie rounds to even: infinity
  EXPECT_EQ(half_bits_of(1e10f), 0x7c00);
  EXPECT_EQ(half_bits_of(-1e10f), 0xfc00);
}

TEST(Half, TiesRoundToEven) {
  EXPECT_EQ(half_bits_of(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // 1 + half ulp: to 1
  EXPECT_EQ(half_bits_of(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // 1 + 1.5 ulp: to 1 + 2
  EXPECT_EQ(half_bits_of(std::ldexp(1.0f, -25)), 0x0000);             // half the smallest: 0
  EXPECT_EQ(half_bits_of(3 * std::ldexp(1.0f, -25)), 0x0002);         // 1.5 subnormals: 2
  EXPECT_EQ(half_bits_of(std::ldexp(1.0f, -25) * 1.0000001f), 0x0001);
  EXPECT_EQ(half_bits_of(std::ldexp(1.0f, -26)), 0x0000);
  // The largest subnormal plus half a step rounds up into the smallest normal (even mantissa).
  EXPECT_EQ(half_bits_of(std::ldexp(2047.0f, -25)), 0x0400);
}

// The definition: the result is a nearest half, and on a tie the one with an even mantissa.
TEST(Half, RandomFloatsRoundToANearestHalf) {
  testing::Rng rng;
  for (int i = 0; i < 1'000'000; ++i) {
    // Magnitudes across the whole half range, subnormals included.
    const float value = std::ldexp(rng.uniform(-1, 1), static_cast<int>(rng.next() % 42) - 26);
    const Half h = to_half(value);
    const double error = std::abs(double{to_float(h)} - value);
    for (int step : {-1, 1}) {
      const std::uint16_t neighbour_bits = static_cast<std::uint16_t>(bits(h) + step);
      const float neighbour = to_float(half(neighbour_bits));
      if (std::isnan(neighbour)) continue;
      const double other = std::abs(double{neighbour} - value);
      ASSERT_LE(error, other) << "value " << value << " seed " << rng.seed();
      if (error == other) {
        ASSERT_EQ(bits(h) & 1, 0) << "tie not to even: " << value;
      }
    }
  }
}

}  // namespace
}  // namespace crossgpu::reference
