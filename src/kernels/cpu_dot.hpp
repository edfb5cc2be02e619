// Fast f32 dot products of a weight row with a vector, for the CPU device's matvec kernels: the
// row is decoded block by block in registers (q8_0, q4_0) or into a small buffer (the other
// types), and summed in eight f32 lanes that the compiler turns into SIMD (AVX2 where the CPU
// has it, chosen at run time; NEON on arm64). Unlike reference::dot_row (double, one element at
// a time) this is a kernel, not a reference: tests compare it with the reference within f32
// rounding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/weight_type.hpp"

namespace crossgpu::kernels::cpu {

// sum over c < cols of W[c] * x[c] for the row of `type` starting at `row`
// (row_bytes(type, cols) bytes); cols is a multiple of block_elements(type).
float dot_weights(WeightType type, const std::byte* row, const float* x, std::uint64_t cols);

// sum over i < n of a[i] * x[i], in eight f32 lanes.
float dot_f32(const float* a, const float* x, std::uint64_t n);

}  // namespace crossgpu::kernels::cpu
