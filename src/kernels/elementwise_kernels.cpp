// Elementwise kernels: one invocation per element, gl_GlobalInvocationID.x = element index.
#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::kernels {
namespace {

// Large enough that a chunk amortizes the pool's hand-off, small enough to balance 2..64 threads.
constexpr std::uint64_t kGrain = 1 << 16;

std::uint64_t elements(const CpuKernelArgs& args, std::uint32_t n) {
  return cpu::covered(n, args.groups.x, kElementwiseThreads);
}

void fill_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<FillPush>(args);
  const auto out = cpu::slice<float>(args, 0, p.out_offset, elements(args, p.n));
  args.pool.parallel_for(out.size(), kGrain, [&](std::uint64_t begin, std::uint64_t end) {
    reference::fill(out.subspan(begin, end - begin), p.value);
  });
}

// Runs `op(x_part, y_part)` over the covered elements of a {x, y} UnaryPush kernel.
template <typename Op>
void unary_cpu(const CpuKernelArgs& args, Op op) {
  const auto p = cpu::read_push<UnaryPush>(args);
  const std::uint64_t n = elements(args, p.n);
  const auto x = cpu::slice<const float>(args, 0, p.x_offset, n);
  const auto y = cpu::slice<float>(args, 1, p.y_offset, n);
  args.pool.parallel_for(n, kGrain, [&](std::uint64_t begin, std::uint64_t end) {
    op(x.subspan(begin, end - begin), y.subspan(begin, end - begin), p.alpha);
  });
}

template <typename Op>
void binary_cpu(const CpuKernelArgs& args, Op op) {
  const auto p = cpu::read_push<BinaryPush>(args);
  const std::uint64_t n = elements(args, p.n);
  const auto a = cpu::slice<const float>(args, 0, p.a_offset, n);
  const auto b = cpu::slice<const float>(args, 1, p.b_offset, n);
  const auto out = cpu::slice<float>(args, 2, p.out_offset, n);
  args.pool.parallel_for(n, kGrain, [&](std::uint64_t begin, std::uint64_t end) {
    const std::uint64_t count = end - begin;
    op(a.subspan(begin, count), b.subspan(begin, count), out.subspan(begin, count));
  });
}

void copy_cpu(const CpuKernelArgs& args) {
  unary_cpu(args, [](auto x, auto y, float) { reference::copy(x, y); });
}
void scale_cpu(const CpuKernelArgs& args) {
  unary_cpu(args, [](auto x, auto y, float alpha) { reference::scale(x, y, alpha); });
}
void axpy_cpu(const CpuKernelArgs& args) {
  unary_cpu(args, [](auto x, auto y, float alpha) { reference::axpy(alpha, x, y); });
}
void silu_cpu(const CpuKernelArgs& args) {
  unary_cpu(args, [](auto x, auto y, float) { reference::silu(x, y); });
}
void add_cpu(const CpuKernelArgs& args) {
  binary_cpu(args, [](auto a, auto b, auto out) { reference::add(a, b, out); });
}
void mul_cpu(const CpuKernelArgs& args) {
  binary_cpu(args, [](auto a, auto b, auto out) { reference::mul(a, b, out); });
}

}  // namespace

const KernelSpec fill_f32{"fill_f32", {spirv::fill_f32, spirv::fill_f32_words}, 1,
                          sizeof(FillPush), kElementwiseThreads, fill_cpu};
const KernelSpec copy_f32{"copy_f32", {spirv::copy_f32, spirv::copy_f32_words}, 2,
                          sizeof(UnaryPush), kElementwiseThreads, copy_cpu};
const KernelSpec add_f32{"add_f32", {spirv::add_f32, spirv::add_f32_words}, 3,
                         sizeof(BinaryPush), kElementwiseThreads, add_cpu};
const KernelSpec mul_f32{"mul_f32", {spirv::mul_f32, spirv::mul_f32_words}, 3,
                         sizeof(BinaryPush), kElementwiseThreads, mul_cpu};
const KernelSpec scale_f32{"scale_f32", {spirv::scale_f32, spirv::scale_f32_words}, 2,
                           sizeof(UnaryPush), kElementwiseThreads, scale_cpu};
const KernelSpec axpy_f32{"axpy_f32", {spirv::axpy_f32, spirv::axpy_f32_words}, 2,
                          sizeof(UnaryPush), kElementwiseThreads, axpy_cpu};
const KernelSpec silu_f32{"silu_f32", {spirv::silu_f32, spirv::silu_f32_words}, 2,
                          sizeof(UnaryPush), kElementwiseThreads, silu_cpu};

}  // namespace crossgpu::kernels
