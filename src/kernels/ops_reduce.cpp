// sum and max: levels of the reduce kernel, each shrinking the values kReduceBlock-fold, until
// one value is left; the last level writes it to `out`. The partial values of the levels in
// between live in a scratch buffer allocated per call.
#include <limits>

#include "kernels/kernels.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;
using kernels::kReduceBlock;
using kernels::ReduceOp;

// One level: `count` values at src -> ceil(count / kReduceBlock) values at dst. Chunks hold
// whole blocks, so that chunk boundaries never split a workgroup's block.
Event reduce_level(Stream& stream, TensorRef src, std::uint64_t count, TensorRef dst, ReduceOp op,
                   const BindingLimits& limits) {
  const std::uint64_t step = limits.max_elements(DType::f32) / kReduceBlock * kReduceBlock;
  return for_each_chunk(count, step, [&](std::uint64_t first, std::uint64_t n) {
    const std::uint64_t groups = ceil_div(n, kReduceBlock);
    const Window wx = window(src, DType::f32, first, n, limits);
    const Window wo = window(dst, DType::f32, first / kReduceBlock, groups, limits);
    const kernels::ReducePush push{to_u32(n), wx.offset, wo.offset, op};
    return dispatch(stream, kernels::reduce_f32, {wx.range, wo.range}, push,
                    Groups{groups, 1, 1});
  });
}

// Elements of scratch all levels but the last need: each level's output.
std::uint64_t scratch_elements(std::uint64_t n) {
  std::uint64_t total = 0;
  for (std::uint64_t count = ceil_div(n, kReduceBlock); count > 1;
       count = ceil_div(count, kReduceBlock)) {
    total += count;
  }
  return total;
}

Event reduce(Stream& stream, const char* name, TensorRef x, TensorRef out, std::uint64_t n,
             ReduceOp op) {
  validate(stream, name, {{"x", x, n}, {"out", out, 1, DType::f32, true}}, InPlace::forbidden);
  if (n == 0) {
    const float identity = op == ReduceOp::sum ? 0.0f : -std::numeric_limits<float>::infinity();
    return fill(stream, out, 1, identity);
  }
  const BindingLimits limits = binding_limits(stream.device());
  // Freed when this function returns; the device keeps the memory until the work that uses it
  // has completed (Buffer::reset's contract).
  Buffer scratch;
  if (const std::uint64_t elements = scratch_elements(n); elements > 0) {
    scratch = stream.device().allocate(elements * sizeof(float));
  }
  TensorRef src = x;
  std::uint64_t scratch_used = 0;
  for (std::uint64_t count = n;;) {
    const std::uint64_t groups = ceil_div(count, kReduceBlock);
    const TensorRef dst = groups == 1 ? out : TensorRef(scratch, scratch_used * sizeof(float));
    Event done = reduce_level(stream, src, count, dst, op, limits);
    if (groups == 1) return done;
    src = dst;
    count = groups;
    scratch_used += groups;
  }
}

}  // namespace

Event sum(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n) {
  return reduce(stream, "ops::sum", x, out, n, ReduceOp::sum);
}

Event max(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n) {
  return reduce(stream, "ops::max", x, out, n, ReduceOp::max);
}

}  // namespace crossgpu::ops
