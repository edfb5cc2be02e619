// Row-wise ops (softmax, rms_norm): one workgroup per row, chunks of whole rows.
#include <cmath>

#include "core/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;

// Rows per dispatch: as many as one binding holds.
std::uint64_t rows_per_chunk(const char* op, std::uint64_t cols, const BindingLimits& limits) {
  const std::uint64_t rows = limits.max_elements(DType::f32) / cols;
  if (rows == 0) {
    fail(Errc::unsupported,
         "{}: one row of {} f32 elements exceeds the device's storage-buffer range of {}", op,
         cols, format_bytes(limits.max_bytes));
  }
  return rows;
}

}  // namespace

Event softmax(Stream& stream, TensorRef x, TensorRef y, std::uint64_t rows, std::uint64_t cols) {
  const char* op = "ops::softmax";
  const std::uint64_t n = matrix_elements(op, rows, cols);
  validate(stream, op, {{"x", x, n}, {"y", y, n, DType::f32, true}}, InPlace::allowed);
  if (n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  const std::uint64_t step = rows_per_chunk(op, cols, limits);
  return for_each_chunk(rows, step, [&](std::uint64_t r0, std::uint64_t count) {
    const Window wx = window(x, DType::f32, r0 * cols, count * cols, limits);
    const Window wy = window(y, DType::f32, r0 * cols, count * cols, limits);
    const kernels::SoftmaxPush push{to_u32(count), to_u32(cols), wx.offset, wy.offset};
    return dispatch(stream, kernels::softmax_f32, {wx.range, wy.range}, push,
                    Groups{count, 1, 1});
  });
}

Event rms_norm(Stream& stream, TensorRef x, TensorRef weight, TensorRef y, std::uint64_t rows,
               std::uint64_t cols, float eps) {
  const char* op = "ops::rms_norm";
  if (!(eps >= 0.0f) || std::isinf(eps)) {
    fail(Errc::invalid_argument, "{}: eps must be finite and >= 0, got {}", op, eps);
  }
  const std::uint64_t n = matrix_elements(op, rows, cols);
  validate(stream, op, {{"x", x, n}, {"weight", weight, cols}, {"y", y, n, DType::f32, true}},
           InPlace::allowed);
  if (n == 0) return {};
  const BindingLimits limits = binding_limits(stream.device());
  const std::uint64_t step = rows_per_chunk(op, cols, limits);
  const Window ww = window(weight, DType::f32, 0, cols, limits);
  return for_each_chunk(rows, step, [&](std::uint64_t r0, std::uint64_t count) {
    const Window wx = window(x, DType::f32, r0 * cols, count * cols, limits);
    const Window wy = window(y, DType::f32, r0 * cols, count * cols, limits);
    const kernels::RmsNormPush push{to_u32(count), to_u32(cols), wx.offset,
                                    ww.offset,     wy.offset,    eps};
    return dispatch(stream, kernels::rms_norm_f32, {wx.range, ww.range, wy.range}, push,
                    Groups{count, 1, 1});
  });
}

}  // namespace crossgpu::ops
