// The reduction kernel: one level of a sum or max, kReduceBlock elements per workgroup.
#include <algorithm>

#include "core/thread_pool.hpp"
#include "crossgpu_kernels_spirv.hpp"
#include "kernels/cpu_binding.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::kernels {
namespace {

float reduce_block(std::span<const float> block, ReduceOp op) {
  return op == ReduceOp::sum ? reference::sum(block) : reference::max(block);
}

// Like the shader, every dispatched group writes its value, the identity when its block lies
// past n.
void reduce_cpu(const CpuKernelArgs& args) {
  const auto p = cpu::read_push<ReducePush>(args);
  if (p.op != ReduceOp::sum && p.op != ReduceOp::max) {
    fail(Errc::internal, "reduce_f32: unknown operation {}", static_cast<std::uint32_t>(p.op));
  }
  const std::uint64_t groups = args.groups.x;
  const auto x = cpu::slice<const float>(args, 0, p.x_offset, p.n);
  const auto out = cpu::slice<float>(args, 1, p.out_offset, groups);
  args.pool.parallel_for(groups, 16, [&](std::uint64_t begin, std::uint64_t end) {
    for (std::uint64_t g = begin; g < end; ++g) {
      const std::uint64_t first = std::min<std::uint64_t>(g * kReduceBlock, p.n);
      const std::uint64_t count = std::min<std::uint64_t>(kReduceBlock, p.n - first);
      out[g] = reduce_block(x.subspan(first, count), p.op);
    }
  });
}

}  // namespace

const KernelSpec reduce_f32{"reduce_f32", {spirv::reduce_f32, spirv::reduce_f32_words}, 2,
                            sizeof(ReducePush), kReduceThreads, reduce_cpu};

}  // namespace crossgpu::kernels
