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

// out[t * out_stride] = the dot of the row with x + t * x_stride, for t < tokens: one weight row
// against several vectors (matmul_weights: a prefill batch, or a decode step of several
// sequences). The row is decoded once per block for all of them (q8_0, q4_0), or once whole (the
// other types), so a batch of B vectors costs one decode and B multiply-adds per weight.
void dot_weights_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                        std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride);

// sum over i < n of a[i] * x[i], in eight f32 lanes.
float dot_f32(const float* a, const float* x, std::uint64_t n);

}  // namespace crossgpu::kernels::cpu
