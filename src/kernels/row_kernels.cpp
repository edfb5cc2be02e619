// Row-wise kernels over a rows x cols matrix: softmax and RMSNorm, one row per workgroup.
#include <algorithm>

#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::kernels {
namespace {

std::uint64_t row_grain(std::uint64_t cols) {
  constexpr std::uint64_t kElementsPerTask = 1 << 16;
  return std::max<std::uint64_t>(1, kElementsPerTask / std::max<std::uint64_t>(1, cols));
}

void softmax_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<SoftmaxPush>(args);
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, 1);
  const auto x = cpu::matrix<const float>(args, 0, p.x_offset, rows, p.cols, p.cols);
  const auto y = cpu::matrix<float>(args, 1, p.y_offset, rows, p.cols, p.cols);
  args.pool.parallel_for(rows, row_grain(p.cols), [&](std::uint64_t begin, std::uint64_t end) {
    reference::softmax(x.block(begin, end - begin), y.block(begin, end - begin));
  });
}

void rms_norm_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<RmsNormPush>(args);
  const std::uint64_t rows = cpu::covered(p.rows, args.groups.x, 1);
  const auto x = cpu::matrix<const float>(args, 0, p.x_offset, rows, p.cols, p.cols);
  const auto w = cpu::slice<const float>(args, 1, p.w_offset, p.cols);
  const auto y = cpu::matrix<float>(args, 2, p.y_offset, rows, p.cols, p.cols);
  args.pool.parallel_for(rows, row_grain(p.cols), [&](std::uint64_t begin, std::uint64_t end) {
    reference::rms_norm(x.block(begin, end - begin), w, y.block(begin, end - begin), p.eps);
  });
}

}  // namespace

const KernelSpec softmax_f32{"softmax_f32", {spirv::softmax_f32, spirv::softmax_f32_words}, 2,
                             sizeof(SoftmaxPush), kRowThreads, softmax_cpu};
const KernelSpec rms_norm_f32{"rms_norm_f32", {spirv::rms_norm_f32, spirv::rms_norm_f32_words},
                              3, sizeof(RmsNormPush), kRowThreads, rms_norm_cpu};

}  // namespace crossgpu::kernels
