#include "kernels/reference/half.hpp"

#include <bit>
#include <cmath>

namespace crossgpu::reference {
namespace {

constexpr std::uint32_t kF32MantissaBits = 23;
constexpr std::uint32_t kF16MantissaBits = 10;
constexpr std::uint32_t kDroppedBits = kF32MantissaBits - kF16MantissaBits;  // 13
constexpr int kF32Bias = 127;
constexpr int kF16Bias = 15;
constexpr std::uint32_t kF16Infinity = 0x7c00;

// `kept` is the truncated result, `rest` the `dropped` bits cut off below it. Returns the
// correctly rounded result (ties to even); a carry out of the mantissa correctly increments the
// exponent, and out of the largest finite value gives infinity.
std::uint32_t round_to_nearest_even(std::uint32_t kept, std::uint32_t rest, std::uint32_t dropped) {
  const std::uint32_t halfway = std::uint32_t{1} << (dropped - 1);
  const bool up = rest > halfway || (rest == halfway && (kept & 1) != 0);
  return kept + (up ? 1 : 0);
}

std::uint32_t nan_or_infinity(std::uint32_t mantissa) {
  if (mantissa == 0) return kF16Infinity;
  // Keep the top payload bits and force the quiet bit so that the result is still a NaN.
  return kF16Infinity | 0x200 | (mantissa >> kDroppedBits);
}

// |value| < 2^-14, the smallest normal half: the result is a subnormal m * 2^-24 (or 0).
std::uint32_t to_subnormal(std::uint32_t biased_exponent, std::uint32_t mantissa) {
  // value = M * 2^(e - 127 - 23) with the implicit bit in M; m = value / 2^-24 = M >> shift.
  const std::uint32_t shift = static_cast<std::uint32_t>(kF32Bias - 1) - biased_exponent;
  if (shift > kF32MantissaBits + 1) return 0;  // below half of 2^-24: rounds to zero
  const std::uint32_t full = mantissa | (std::uint32_t{1} << kF32MantissaBits);
  const std::uint32_t rest = full & ((std::uint32_t{1} << shift) - 1);
  return round_to_nearest_even(full >> shift, rest, shift);
}

}  // namespace

Half to_half(float value) noexcept {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (x >> 16) & 0x8000;
  const std::uint32_t biased = (x >> kF32MantissaBits) & 0xff;
  const std::uint32_t mantissa = x & 0x7fffff;
  std::uint32_t magnitude;
  if (biased == 0xff) {
    magnitude = nan_or_infinity(mantissa);
  } else {
    const int exponent = static_cast<int>(biased) - kF32Bias + kF16Bias;
    if (exponent >= 0x1f) {
      magnitude = kF16Infinity;
    } else if (exponent <= 0) {
      magnitude = to_subnormal(biased, mantissa);
    } else {
      const std::uint32_t kept =
          (static_cast<std::uint32_t>(exponent) << kF16MantissaBits) | (mantissa >> kDroppedBits);
      magnitude = round_to_nearest_even(kept, mantissa & 0x1fff, kDroppedBits);
    }
  }
  return static_cast<Half>(sign | magnitude);
}

float to_float(Half value) noexcept {
  const std::uint32_t h = bits(value);
  const std::uint32_t sign = (h & 0x8000) << 16;
  const std::uint32_t biased = (h >> kF16MantissaBits) & 0x1f;
  const std::uint32_t mantissa = h & 0x3ff;
  if (biased == 0x1f) {
    return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << kDroppedBits));
  }
  if (biased == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // exact
    return sign != 0 ? -magnitude : magnitude;
  }
  const std::uint32_t exponent = biased - kF16Bias + kF32Bias;
  return std::bit_cast<float>(sign | (exponent << kF32MantissaBits) | (mantissa << kDroppedBits));
}

}  // namespace crossgpu::reference
