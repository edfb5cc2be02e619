// matmul_weights_few (glsl/matmul_weights_few.comp): Y = X * W^T for a few tokens, W in a weight
// format, with the contract of matmul_weights (push_constants_weights.hpp WeightsMatmulPush:
// {w, x, y}, Y row stride ldy) plus: cols and x_offset multiples of 4 (X is read as vec4s), and
// the groups below. A subgroup per two rows of W, the token sums in registers: the decode step
// of several sequences (continuous batching) on GPUs, where matmul_weights' 64-token tiles are
// mostly padding. Specialized per weight type and per tokens per workgroup (1 to kFewTokens),
// each variant a KernelSpec of its own name ("matmul_weights_few.q8_0.t4"). In the
// remote-dispatch registry with matmul_weights' bounds rule. Callers want ops_weights_few.hpp.
#pragma once

#include <cstdint>
#include <span>

#include "device/kernel.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu::kernels {

inline constexpr std::uint32_t kFewThreads = 128;      // local_size_x
inline constexpr std::uint32_t kFewRowsPerGroup = 8;   // rows of W per workgroup (ROWS_PER_GROUP)
inline constexpr std::uint32_t kFewTokens = 8;         // the most tokens per workgroup (MAX_TOKENS)

// Groups: x = ceil(rows / kFewRowsPerGroup), y = ceil(tokens / tokens_per_group) for the variant
// of `tokens_per_group` (1 to kFewTokens; Errc::internal otherwise).
extern const KernelSpec matmul_weights_few;  // unspecialized: p.type at run time, 8 tokens per group
const KernelSpec& matmul_weights_few_variant(WeightType type, std::uint32_t tokens_per_group);
std::span<const KernelSpec> matmul_weights_few_variants();

}  // namespace crossgpu::kernels
