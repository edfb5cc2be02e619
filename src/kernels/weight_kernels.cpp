// The weight kernels (push_constants_weights.hpp): matvec / matmul against a weight matrix in a
// ggml format, and the embedding lookup. The CPU functions dequantize with the reference
// (kernels/reference/quant.hpp) row by row, or decode in registers (cpu_dot.hpp), and sum in f32 SIMD lanes.
#include <algorithm>
#include <array>
#include <string>
#include <cmath>
#include <vector>

#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/cpu_dot.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants_weights.hpp"
#include "kernels/reference/quant.hpp"
#include "kernels/weight_type.hpp"

namespace crossgpu::kernels {
namespace {

// The WeightType in a push block; Errc::internal for a value the ops never send.
WeightType weight_type(std::uint32_t value) {
  const auto type = weight_type_from(value);
  if (!type) fail(Errc::internal, "CPU kernel: weight type {} is not one the kernels read", value);
  return *type;
}

// Rows per pool task: about 2^16 dequantized elements each.
std::uint64_t row_grain(std::uint64_t cols) {
  return std::max<std::uint64_t>(1, (std::uint64_t{1} << 16) / std::max<std::uint64_t>(1, cols));
}

void matvec_weights_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<WeightsMatvecPush>(args);
  const WeightType type = weight_type(p.type);
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, 1);
  const std::uint64_t row_bytes = kernels::row_bytes(type, p.cols);
  const auto w = cpu::slice<const std::byte>(args, 0, p.w_offset, rows * row_bytes);
  const auto x = cpu::slice<const float>(args, 1, p.x_offset, p.cols);
  const auto y = cpu::slice<float>(args, 2, p.y_offset, rows);
  args.pool.parallel_for(rows, row_grain(p.cols), [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t r = begin; r < end; ++r) {
      y[r] = cpu::dot_weights(type, w.data() + r * row_bytes, x.data(), p.cols);
    }
  });
}

// The CPU face of matvec_fused.comp: the norm (a scale and x * g) is computed once per
// dispatch instead of once per row.
void matvec_fused_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<FusedMatvecPush>(args);
  const bool swiglu = (p.flags & kFusedSwiglu) != 0;
  const std::uint32_t segments = swiglu ? 2 : p.segments;
  if (segments == 0 || segments > kFusedMatvecSegments || p.rows_per_group == 0) {
    fail(Errc::internal, "CPU kernel matvec_fused: {} segments, {} rows per group", p.segments,
         p.rows_per_group);
  }
  const auto x = cpu::slice<const float>(args, 1, p.x_offset, p.cols);
  std::vector<float> xn(x.begin(), x.end());
  float scale = 1.0f;
  if ((p.flags & kFusedNorm) != 0) {
    const auto g = cpu::slice<const float>(args, 3, p.g_offset, p.cols);
    double squares = 0.0;
    for (float v : x) squares += static_cast<double>(v) * v;
    scale = 1.0f / std::sqrt(static_cast<float>(squares / p.cols) + p.eps);
    for (std::uint64_t c = 0; c < p.cols; ++c) xn[c] *= g[c];
  }
  struct Segment {
    WeightType type;
    std::uint64_t row_bytes;
    std::span<const std::byte> w;
  };
  std::vector<Segment> seg;
  std::uint64_t out_rows = 0;
  for (std::uint32_t s = 0; s < segments; ++s) {
    const WeightType type = weight_type(p.type[s]);
    const std::uint64_t bytes = kernels::row_bytes(type, p.cols);
    seg.push_back({type, bytes, cpu::slice<const std::byte>(args, 0, p.w_offset[s], p.rows[s] * bytes)});
    if (!swiglu || s == 0) out_rows += p.rows[s];
  }
  if (swiglu && p.rows[0] != p.rows[1]) fail(Errc::internal, "CPU kernel matvec_fused: SwiGLU of unequal segments");
  const auto y = cpu::slice<float>(args, 2, p.y_offset, out_rows);
  const bool accumulate = (p.flags & kFusedAccumulate) != 0;
  auto row_dot = [&](const Segment& s, std::uint64_t r) {
    return scale * cpu::dot_weights(s.type, s.w.data() + r * s.row_bytes, xn.data(), p.cols);
  };
  args.pool.parallel_for(out_rows, row_grain(p.cols), [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t out = begin; out < end; ++out) {
      std::uint64_t r = out;
      std::uint32_t s = 0;
      while (!swiglu && r >= p.rows[s]) r -= p.rows[s++];
      float value = row_dot(seg[s], r);
      if (swiglu) value = value / (1.0f + std::exp(-value)) * row_dot(seg[1], r);
      y[out] = accumulate ? y[out] + value : value;
    }
  });
}

// The matmul shaders differ only in how many rows and tokens a workgroup covers.
template <std::uint32_t RowsPerGroup, std::uint32_t TokensPerGroup>
void matmul_weights_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<WeightsMatmulPush>(args);
  const WeightType type = weight_type(p.type);
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, RowsPerGroup);
  const std::uint64_t tokens = cpu::covered(p.tokens, args.groups.y, TokensPerGroup);
  if (rows == 0 || tokens == 0) return;
  const std::uint64_t row_bytes = kernels::row_bytes(type, p.cols);
  const auto w = cpu::slice<const std::byte>(args, 0, p.w_offset, rows * row_bytes);
  const auto x = cpu::matrix<const float>(args, 1, p.x_offset, tokens, p.cols, p.cols);
  const auto y = cpu::matrix<float>(args, 2, p.y_offset, tokens, rows, p.ldy);
  // By rows of W: each row is decoded once and met with every token.
  args.pool.parallel_for(rows, row_grain(p.cols * tokens), [&](std::uint64_t begin,
                                                              std::uint64_t end) {
    for (std::uint64_t r = begin; r < end; ++r) {
      cpu::dot_weights_tokens(type, w.data() + r * row_bytes, x.row(0).data(), x.stride, tokens, p.cols, &y(0, r),
                              y.stride);
    }
  });
}

void get_rows_weights_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<WeightsGetRowsPush>(args);
  const WeightType type = weight_type(p.type);
  const std::uint64_t count = cpu::covered(p.count, args.groups.x, 1);
  const std::uint64_t row_bytes = kernels::row_bytes(type, p.cols);
  const auto table = cpu::slice<const std::byte>(args, 0, p.w_offset, p.row_count * row_bytes);
  const auto ids = cpu::slice<const std::uint32_t>(args, 1, p.ids_offset, count);
  const auto out = cpu::matrix<float>(args, 2, p.out_offset, count, p.cols, p.cols);
  const std::uint32_t last = std::max<std::uint32_t>(p.table_rows, 1) - 1;
  args.pool.parallel_for(count, row_grain(p.cols), [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t i = begin; i < end; ++i) {
      const std::uint32_t id = std::min(ids[i], last);  // clamped, as the shader does
      if (id < p.row_first || id - p.row_first >= p.row_count) continue;  // another slice's
      const std::uint64_t at = std::uint64_t{id - p.row_first} * row_bytes;
      reference::dequantize_row(type, table.subspan(at, row_bytes), out.row(i));
    }
  });
}

}  // namespace

const KernelSpec matvec_weights{"matvec_weights",
                                {spirv::matvec_weights, spirv::matvec_weights_words}, 3,
                                sizeof(WeightsMatvecPush), kWeightRowThreads, matvec_weights_cpu};
const KernelSpec matvec_fused{"matvec_fused", {spirv::matvec_fused, spirv::matvec_fused_words},
                              4, sizeof(FusedMatvecPush), kFusedMatvecThreads, matvec_fused_cpu};
const KernelSpec matvec_fused_rows{"matvec_fused_rows",
                                   {spirv::matvec_fused_rows, spirv::matvec_fused_rows_words}, 4,
                                   sizeof(FusedMatvecPush), kFusedMatvecThreads, matvec_fused_cpu};
const KernelSpec matvec_fused_lanes{"matvec_fused_lanes",
                                    {spirv::matvec_fused_lanes, spirv::matvec_fused_lanes_words}, 4,
                                    sizeof(FusedMatvecPush), kFusedMatvecThreads, matvec_fused_cpu};
const KernelSpec matmul_weights{"matmul_weights",
                                {spirv::matmul_weights, spirv::matmul_weights_words}, 3,
                                sizeof(WeightsMatmulPush), kWeightMatmulThreads,
                                matmul_weights_cpu<kWeightMatmulRows, kWeightMatmulThreads>};
const KernelSpec matmul_weights_tiled{
    "matmul_weights_tiled", {spirv::matmul_weights_tiled, spirv::matmul_weights_tiled_words}, 3,
    sizeof(WeightsMatmulPush), kWeightMatmulTiledThreads,
    matmul_weights_cpu<kWeightMatmulTile, kWeightMatmulTile>};
const KernelSpec get_rows_weights{"get_rows_weights",
                                  {spirv::get_rows_weights, spirv::get_rows_weights_words}, 3,
                                  sizeof(WeightsGetRowsPush), kWeightGetRowsThreads,
                                  get_rows_weights_cpu};

const KernelSpec& matvec_fused_kernel(FusedKernel kernel) {
  switch (kernel) {
    case FusedKernel::subgroups: return matvec_fused;
    case FusedKernel::rows: return matvec_fused_rows;
    case FusedKernel::lanes: return matvec_fused_lanes;
  }
  fail(Errc::internal, "matvec_fused: no kernel {}", static_cast<int>(kernel));
}

namespace {

// Every weight type gets its specialized variants (built into pipelines only when used).
constexpr const auto& kFusedTypes = kWeightTypes;
constexpr FusedKernel kFusedKernels[] = {FusedKernel::subgroups, FusedKernel::rows, FusedKernel::lanes};
constexpr std::size_t kFusedVariants = std::size(kFusedKernels) * std::size(kFusedTypes) * 2;

// Built in place once (the specs point at the names and constants beside them).
struct FusedVariants {
  std::array<std::array<std::uint32_t, 2>, kFusedVariants> constants;
  std::array<std::string, kFusedVariants> names;
  std::array<KernelSpec, kFusedVariants> specs;

  static std::size_t index(FusedKernel kernel, std::size_t type, bool norm) {
    return static_cast<std::size_t>(kernel) * std::size(kFusedTypes) * 2 + type * 2 + (norm ? 1 : 0);
  }

  FusedVariants() {
    for (FusedKernel kernel : kFusedKernels) {
      const KernelSpec& base = matvec_fused_kernel(kernel);
      for (std::size_t t = 0; t < std::size(kFusedTypes); ++t) {
        for (bool norm : {false, true}) {
          const std::size_t i = index(kernel, t, norm);
          constants[i] = {static_cast<std::uint32_t>(kFusedTypes[t]), norm ? 1u : 0u};
          names[i] = fmt::format("{}.{}{}", base.name, to_string(kFusedTypes[t]), norm ? ".norm" : "");
          specs[i] = base;
          specs[i].name = names[i];
          specs[i].constants = constants[i];
        }
      }
    }
  }
};

const FusedVariants& fused_variants() {
  static const FusedVariants variants;
  return variants;
}

}  // namespace

const KernelSpec& matvec_fused_variant(FusedKernel kernel, WeightType type, bool norm) {
  const auto* it = std::find(std::begin(kFusedTypes), std::end(kFusedTypes), type);
  if (it == std::end(kFusedTypes)) {
    fail(Errc::internal, "matvec_fused: no variant for weight type {}", static_cast<std::uint32_t>(type));
  }
  const std::size_t t = static_cast<std::size_t>(it - std::begin(kFusedTypes));
  return fused_variants().specs[FusedVariants::index(kernel, t, norm)];
}

std::span<const KernelSpec> matvec_fused_variants() { return fused_variants().specs; }

}  // namespace crossgpu::kernels
