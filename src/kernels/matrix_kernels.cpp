// Matrix kernels: matmul (a 64x64 tile of C per workgroup) and matvec (one row per workgroup).
#include <algorithm>

#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::kernels {
namespace {

using reference::Half;
using reference::MatrixView;

// Rows per pool task: enough work per task (a row of a matmul is n * k multiply-adds) while
// leaving several tasks per thread to balance.
std::uint64_t row_grain(std::uint64_t work_per_row) {
  constexpr std::uint64_t kWorkPerTask = 1 << 18;
  return std::max<std::uint64_t>(1, kWorkPerTask / std::max<std::uint64_t>(1, work_per_row));
}

template <typename T>
void matmul_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<MatmulPush>(args);
  const std::uint64_t m = cpu::covered(p.m, args.groups.y, kMatmulTile);
  const std::uint64_t n = cpu::covered(p.n, args.groups.x, kMatmulTile);
  if (m == 0 || n == 0) return;
  const auto a = cpu::matrix<const T>(args, 0, p.a_offset, m, p.k, p.lda);
  const auto b = cpu::matrix<const T>(args, 1, p.b_offset, p.k, n, p.ldb);
  const auto c = cpu::matrix<float>(args, 2, p.c_offset, m, n, p.ldc);
  args.pool.parallel_for(m, row_grain(n * p.k), [&](std::uint64_t begin, std::uint64_t end) {
    reference::matmul(a.block(begin, end - begin), b, c.block(begin, end - begin),
                      p.accumulate != 0);
  });
}

template <typename T>
void matvec_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<MatvecPush>(args);
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, 1);
  const auto a = cpu::matrix<const T>(args, 0, p.a_offset, rows, p.cols, p.lda);
  const auto x = cpu::slice<const float>(args, 1, p.x_offset, p.cols);
  const auto y = cpu::slice<float>(args, 2, p.y_offset, rows);
  args.pool.parallel_for(rows, row_grain(p.cols), [&](std::uint64_t begin, std::uint64_t end) {
    reference::matvec(a.block(begin, end - begin), x, y.subspan(begin, end - begin));
  });
}

}  // namespace

const KernelSpec matmul_f32{"matmul_f32", {spirv::matmul_f32, spirv::matmul_f32_words}, 3,
                            sizeof(MatmulPush), kMatmulThreads, matmul_cpu<float>};
const KernelSpec matmul_f16{"matmul_f16", {spirv::matmul_f16, spirv::matmul_f16_words}, 3,
                            sizeof(MatmulPush), kMatmulThreads, matmul_cpu<Half>};
const KernelSpec matvec_f32{"matvec_f32", {spirv::matvec_f32, spirv::matvec_f32_words}, 3,
                            sizeof(MatvecPush), kRowThreads, matvec_cpu<float>};
const KernelSpec matvec_f16{"matvec_f16", {spirv::matvec_f16, spirv::matvec_f16_words}, 3,
                            sizeof(MatvecPush), kRowThreads, matvec_cpu<Half>};

}  // namespace crossgpu::kernels
