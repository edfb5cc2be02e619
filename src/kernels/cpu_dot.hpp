// Fast f32 dot products of a weight row with a vector, for the CPU device's matvec kernels. Two
// implementations, chosen at run time:
// - avx2 (x86-64 CPUs with AVX2, FMA and F16C; cpu_dot_avx2.hpp): intrinsics that decode q8_0,
//   q4_0, q4_k, q6_k, f16, bf16 and f32 rows in registers;
// - portable (every CPU, and the types avx2 lacks): the row decoded block by block in registers
//   (q8_0, q4_0) or into a small buffer (the other types), summed in eight f32 lanes that the
//   compiler turns into SIMD (an AVX2 clone on x86-64, NEON on arm64).
// Activations stay f32 in both. Unlike reference::dot_row (double, one element at a time) these
// are kernels, not references: tests compare both with the reference within f32 rounding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/weight_type.hpp"

namespace crossgpu::kernels::cpu {

enum class Simd { portable, avx2 };

// The implementation this CPU runs: avx2 where the CPU has it, unless CROSSGPU_CPU_SIMD=portable
// (for comparing the two in one binary), else portable.
Simd selected_simd();
// Whether this CPU runs `simd` (portable: always).
bool simd_available(Simd simd);

// sum over c < cols of W[c] * x[c] for the row of `type` starting at `row`
// (row_bytes(type, cols) bytes); cols is a multiple of block_elements(type).
float dot_weights(WeightType type, const std::byte* row, const float* x, std::uint64_t cols);
// The same through a given implementation (tests; an implementation the CPU lacks falls back to portable).
float dot_weights(WeightType type, const std::byte* row, const float* x, std::uint64_t cols, Simd simd);

// out[t * out_stride] = the dot of the row with x + t * x_stride, for t < tokens: one weight row
// against several vectors (matmul_weights: a prefill batch, or a decode step of several
// sequences). The row is decoded once for all of them, 256 elements at a time (avx2: q8_0, q4_0,
// q4_k, q6_k; portable: q8_0, q4_0 a block at a time) or whole (the other types), so a batch of B
// vectors costs one decode and B multiply-adds per weight.
void dot_weights_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                        std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride);
void dot_weights_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride,
                        std::uint64_t tokens, std::uint64_t cols, float* out, std::uint64_t out_stride, Simd simd);

// sum over i < n of a[i] * x[i], in eight f32 lanes.
float dot_f32(const float* a, const float* x, std::uint64_t n);

}  // namespace crossgpu::kernels::cpu
