// The weight matmul for a few tokens: a continuous-batching decode step (one row of X per
// sequence) on a GPU, where matmul_weights' prefill tiles of 64 tokens are mostly padding.
//
//   if (ops::matmul_weights_few_fits(device, tokens, cols, x))
//     ops::matmul_weights_few(stream, w, x, y, rows, cols, tokens, type);
//
// Conventions of ops_weights.hpp hold (W as 32-bit words, GGUF blocks, f32 X and Y), plus X read
// as vec4s: cols a multiple of 4 and X's byte offset a multiple of 16 (Errc::invalid_argument,
// Errc::misaligned). The device needs subgroup arithmetic (Errc::unsupported; the CPU device
// runs its own function). Accumulation f32, per lane then across the subgroup: results equal
// matmul_weights' up to rounding.
#pragma once

#include <cstdint>

#include "kernels/ops.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu::ops {

// Y[t, r] = X[t, :] . W[r, :] for t < tokens, r < rows; Y's rows `ldy` floats apart (0: rows),
// so that several projections can write one packed row each.
Event matmul_weights_few(Stream& stream, TensorRef w, TensorRef x, TensorRef y, std::uint64_t rows,
                         std::uint64_t cols, std::uint64_t tokens, kernels::WeightType type,
                         std::uint64_t ldy = 0);

// Whether matmul_weights_few is the faster projection of `tokens` rows on `device`: a GPU (not a
// CPU-type Vulkan device such as lavapipe, where a subgroup per row is the slow mapping) with
// subgroup arithmetic, 2 to kMaxFewTokens tokens, and X as the kernel reads it.
inline constexpr std::uint64_t kMaxFewTokens = 16;
bool matmul_weights_few_fits(const Device& device, std::uint64_t tokens, std::uint64_t cols, const TensorRef& x);

}  // namespace crossgpu::ops
