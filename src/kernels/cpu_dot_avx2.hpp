// The CPU device's weight-row dot products in AVX2 + FMA + F16C intrinsics (x86-64 only; the
// caller checks avx2::available() at run time, cpu_dot.cpp dispatches). Activations stay f32:
// each weight is decoded in registers to the f32 value the reference decoder gives (bit for bit
// against the x86-64 reference build, which has no FMA contraction) and multiplied into f32
// lanes, so results differ from the reference only by f32 summation order. (llama.cpp quantizes the activations to 8 bits instead, which the token tests of the
// CPU device against the double forward would not allow.)
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/weight_type.hpp"

#if defined(__x86_64__)

namespace crossgpu::kernels::cpu::avx2 {

// Whether this CPU runs AVX2, FMA and F16C.
bool available();

// sum over the row's elements of W[c] * x[c]; `blocks` blocks of the type (32 elements for
// q8_0/q4_0, 256 for q4_k/q6_k), `n` elements for the plain types.
float dot_q8_0(const std::byte* row, const float* x, std::uint64_t blocks);
float dot_q4_0(const std::byte* row, const float* x, std::uint64_t blocks);
float dot_q4_k(const std::byte* row, const float* x, std::uint64_t blocks);
float dot_q6_k(const std::byte* row, const float* x, std::uint64_t blocks);
float dot_f16(const std::byte* row, const float* x, std::uint64_t n);
float dot_bf16(const std::byte* row, const float* x, std::uint64_t n);
float dot_f32(const float* a, const float* x, std::uint64_t n);
// An f32 row at any byte address (GGUF tensors are 32-byte aligned, slices of them need not be).
float dot_f32_row(const std::byte* row, const float* x, std::uint64_t n);

// For several vectors against one row (dot_weights_tokens) of a type that decodes_spans (q8_0,
// q4_0, q4_k, q6_k): out[t * out_stride] = the dot of the row with x + t * x_stride for
// t < tokens <= 8. The row is decoded 256 elements at a time into L1, once for all the vectors,
// whose sums stay in registers.
bool decodes_spans(WeightType type);
void dot_tokens(WeightType type, const std::byte* row, const float* x, std::uint64_t x_stride, std::uint64_t tokens,
                std::uint64_t cols, float* out, std::uint64_t out_stride);

}  // namespace crossgpu::kernels::cpu::avx2

#endif
