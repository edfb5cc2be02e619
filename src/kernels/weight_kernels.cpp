// The weight kernels (push_constants_weights.hpp): matvec / matmul against a weight matrix in a
// ggml format, and the embedding lookup. The CPU functions dequantize with the reference
// (kernels/reference/quant.hpp) row by row and accumulate in double.
#include <algorithm>
#include <vector>

#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
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
      y[r] = reference::dot_row(type, w.subspan(r * row_bytes, row_bytes), x);
    }
  });
}

void matmul_weights_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<WeightsMatmulPush>(args);
  const WeightType type = weight_type(p.type);
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, kWeightMatmulRows);
  const std::uint64_t tokens = cpu::covered(p.tokens, args.groups.y, kWeightMatmulThreads);
  if (rows == 0 || tokens == 0) return;
  const std::uint64_t row_bytes = kernels::row_bytes(type, p.cols);
  const auto w = cpu::slice<const std::byte>(args, 0, p.w_offset, rows * row_bytes);
  const auto x = cpu::matrix<const float>(args, 1, p.x_offset, tokens, p.cols, p.cols);
  const auto y = cpu::matrix<float>(args, 2, p.y_offset, tokens, rows, p.ldy);
  // By rows of W: each row is dequantized once and met with every token.
  args.pool.parallel_for(rows, row_grain(p.cols * tokens), [&](std::uint64_t begin,
                                                              std::uint64_t end) {
    std::vector<float> row(p.cols);
    for (std::uint64_t r = begin; r < end; ++r) {
      reference::dequantize_row(type, w.subspan(r * row_bytes, row_bytes), row);
      for (std::uint64_t t = 0; t < tokens; ++t) {
        const auto xt = x.row(t);
        double sum = 0.0;
        for (std::uint64_t c = 0; c < p.cols; ++c) sum += static_cast<double>(row[c]) * xt[c];
        y(t, r) = static_cast<float>(sum);
      }
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
const KernelSpec matmul_weights{"matmul_weights",
                                {spirv::matmul_weights, spirv::matmul_weights_words}, 3,
                                sizeof(WeightsMatmulPush), kWeightMatmulThreads,
                                matmul_weights_cpu};
const KernelSpec get_rows_weights{"get_rows_weights",
                                  {spirv::get_rows_weights, spirv::get_rows_weights_words}, 3,
                                  sizeof(WeightsGetRowsPush), kWeightGetRowsThreads,
                                  get_rows_weights_cpu};

}  // namespace crossgpu::kernels
