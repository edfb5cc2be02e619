// IEEE 754 binary16 ("half") as storage: the bits, and exact conversions to and from f32.
// The kernels never do arithmetic in f16; they widen to f32 (the shaders too), so these two
// functions are all the host needs to prepare f16 inputs and to check results.
#pragma once

#include <cstdint>

namespace crossgpu::reference {

// A distinct type for the 16 bits, so that a half is never taken for an integer by mistake.
enum class Half : std::uint16_t {};

// Round to nearest, ties to even. Overflow gives +-inf, values below half the smallest
// subnormal give +-0, NaN stays NaN (quiet, keeping the top payload bits).
Half to_half(float value) noexcept;

// Exact: every half is representable in f32 (subnormals, +-0, +-inf and NaN included).
float to_float(Half value) noexcept;

constexpr std::uint16_t bits(Half value) noexcept { return static_cast<std::uint16_t>(value); }

}  // namespace crossgpu::reference
