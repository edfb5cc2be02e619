// matmul_weights_few's KernelSpecs: the shader and its variants per weight type and tokens per
// workgroup, and the CPU function of the same contract (the CPU device's matmul_weights path:
// each row decoded once for every token).
#include "kernels/weight_few_kernels.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/cpu_dot.hpp"
#include "kernels/push_constants_weights.hpp"

namespace crossgpu::kernels {
namespace {

void matmul_weights_few_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<WeightsMatmulPush>(args);
  const auto type = weight_type_from(p.type);
  if (!type) fail(Errc::internal, "CPU kernel matmul_weights_few: weight type {} is not one the kernels read", p.type);
  // A variant covers ceil(tokens / groups.y) tokens per group, at most kFewTokens.
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, kFewRowsPerGroup);
  const std::uint64_t tokens = cpu::covered(p.tokens, args.groups.y, kFewTokens);
  if (rows == 0 || tokens == 0) return;
  const std::uint64_t row_bytes = kernels::row_bytes(*type, p.cols);
  const auto w = cpu::slice<const std::byte>(args, 0, p.w_offset, rows * row_bytes);
  const auto x = cpu::matrix<const float>(args, 1, p.x_offset, tokens, p.cols, p.cols);
  const auto y = cpu::matrix<float>(args, 2, p.y_offset, tokens, rows, p.ldy);
  const std::uint64_t grain = std::max<std::uint64_t>(1, (std::uint64_t{1} << 16) / std::max<std::uint64_t>(1, p.cols * tokens));
  args.pool.parallel_for(rows, grain, [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t r = begin; r < end; ++r) {
      cpu::dot_weights_tokens(*type, w.data() + r * row_bytes, x.row(0).data(), x.stride, tokens, p.cols, &y(0, r),
                              y.stride);
    }
  });
}

constexpr std::size_t kTypes = std::size(kWeightTypes);
constexpr std::size_t kVariants = kTypes * kFewTokens;

// Built in place once (the specs point at the names and constants beside them).
struct FewVariants {
  std::array<std::array<std::uint32_t, 2>, kVariants> constants;
  std::array<std::string, kVariants> names;
  std::array<KernelSpec, kVariants> specs;

  static std::size_t index(std::size_t type, std::uint32_t tokens) { return type * kFewTokens + (tokens - 1); }

  FewVariants() {
    for (std::size_t t = 0; t < kTypes; ++t) {
      for (std::uint32_t n = 1; n <= kFewTokens; ++n) {
        const std::size_t i = index(t, n);
        constants[i] = {static_cast<std::uint32_t>(kWeightTypes[t]), n};
        names[i] = fmt::format("{}.{}.t{}", matmul_weights_few.name, to_string(kWeightTypes[t]), n);
        specs[i] = matmul_weights_few;
        specs[i].name = names[i];
        specs[i].constants = constants[i];
      }
    }
  }
};

const FewVariants& few_variants() {
  static const FewVariants variants;
  return variants;
}

}  // namespace

const KernelSpec matmul_weights_few{"matmul_weights_few",
                                    {spirv::matmul_weights_few, spirv::matmul_weights_few_words}, 3,
                                    sizeof(WeightsMatmulPush), kFewThreads, matmul_weights_few_cpu};

const KernelSpec& matmul_weights_few_variant(WeightType type, std::uint32_t tokens_per_group) {
  const auto* it = std::find(std::begin(kWeightTypes), std::end(kWeightTypes), type);
  if (it == std::end(kWeightTypes) || tokens_per_group == 0 || tokens_per_group > kFewTokens) {
    fail(Errc::internal, "matmul_weights_few: no variant for weight type {} and {} tokens per group",
         static_cast<std::uint32_t>(type), tokens_per_group);
  }
  return few_variants().specs[FewVariants::index(static_cast<std::size_t>(it - std::begin(kWeightTypes)),
                                                 tokens_per_group)];
}

std::span<const KernelSpec> matmul_weights_few_variants() { return few_variants().specs; }

}  // namespace crossgpu::kernels
