// Elementwise ops: n elements, cut into chunks whose bindings fit the storage-buffer range.
#include "kernels/kernels.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;

// Elements per dispatch: as many as one binding holds, in whole workgroups.
std::uint64_t chunk_elements(const BindingLimits& limits) {
  const std::uint64_t most = limits.max_elements(DType::f32);
  return most / kernels::kElementwiseThreads * kernels::kElementwiseThreads;
}

Groups groups_for(std::uint64_t count) {
  return {ceil_div(count, kernels::kElementwiseThreads), 1, 1};
}

// An x -> y kernel (UnaryPush) as one op presents it.
struct UnaryOp {
  const KernelSpec& kernel;
  const char* name;
  const char* x_name;
  const char* y_name;
  InPlace in_place;
};

Event unary(Stream& stream, const UnaryOp& op, TensorRef x, TensorRef y, std::uint64_t n,
            float alpha) {
  validate(stream, op.name, {{op.x_name, x, n}, {op.y_name, y, n, DType::f32, true}},
           op.in_place);
  const BindingLimits limits = binding_limits(stream.device());
  return for_each_chunk(n, chunk_elements(limits), [&](std::uint64_t first, std::uint64_t count) {
    const Window wx = window(x, DType::f32, first, count, limits);
    const Window wy = window(y, DType::f32, first, count, limits);
    const kernels::UnaryPush push{to_u32(count), wx.offset, wy.offset, alpha};
    return dispatch(stream, op.kernel, {wx.range, wy.range}, push, groups_for(count));
  });
}

// a, b -> out kernels (BinaryPush).
Event binary(Stream& stream, const KernelSpec& kernel, const char* op, TensorRef a, TensorRef b,
             TensorRef out, std::uint64_t n) {
  validate(stream, op, {{"a", a, n}, {"b", b, n}, {"out", out, n, DType::f32, true}},
           InPlace::allowed);
  const BindingLimits limits = binding_limits(stream.device());
  return for_each_chunk(n, chunk_elements(limits), [&](std::uint64_t first, std::uint64_t count) {
    const Window wa = window(a, DType::f32, first, count, limits);
    const Window wb = window(b, DType::f32, first, count, limits);
    const Window wo = window(out, DType::f32, first, count, limits);
    const kernels::BinaryPush push{to_u32(count), wa.offset, wb.offset, wo.offset};
    return dispatch(stream, kernel, {wa.range, wb.range, wo.range}, push, groups_for(count));
  });
}

}  // namespace

Event fill(Stream& stream, TensorRef out, std::uint64_t n, float value) {
  validate(stream, "ops::fill", {{"out", out, n, DType::f32, true}}, InPlace::forbidden);
  const BindingLimits limits = binding_limits(stream.device());
  return for_each_chunk(n, chunk_elements(limits), [&](std::uint64_t first, std::uint64_t count) {
    const Window wo = window(out, DType::f32, first, count, limits);
    const kernels::FillPush push{to_u32(count), wo.offset, value};
    return dispatch(stream, kernels::fill_f32, {wo.range}, push, groups_for(count));
  });
}

Event copy(Stream& stream, TensorRef src, TensorRef dst, std::uint64_t n) {
  const UnaryOp op{kernels::copy_f32, "ops::copy", "src", "dst", InPlace::forbidden};
  return unary(stream, op, src, dst, n, 0.0f);
}

Event add(Stream& stream, TensorRef a, TensorRef b, TensorRef out, std::uint64_t n) {
  return binary(stream, kernels::add_f32, "ops::add", a, b, out, n);
}

Event mul(Stream& stream, TensorRef a, TensorRef b, TensorRef out, std::uint64_t n) {
  return binary(stream, kernels::mul_f32, "ops::mul", a, b, out, n);
}

Event scale(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n, float alpha) {
  const UnaryOp op{kernels::scale_f32, "ops::scale", "x", "out", InPlace::allowed};
  return unary(stream, op, x, out, n, alpha);
}

Event axpy(Stream& stream, float alpha, TensorRef x, TensorRef y, std::uint64_t n) {
  const UnaryOp op{kernels::axpy_f32, "ops::axpy", "x", "y", InPlace::allowed};
  return unary(stream, op, x, y, n, alpha);
}

Event silu(Stream& stream, TensorRef x, TensorRef out, std::uint64_t n) {
  const UnaryOp op{kernels::silu_f32, "ops::silu", "x", "out", InPlace::allowed};
  return unary(stream, op, x, out, n, 0.0f);
}

}  // namespace crossgpu::ops
