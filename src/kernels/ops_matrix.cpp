// matmul and matvec: the work is cut by rows of A and of the output, and for matmul also by
// rows of B (k), accumulating into C, when B alone exceeds one binding.
#include <algorithm>

#include "core/error.hpp"
#include "kernels/kernels.hpp"
#include "kernels/ops.hpp"
#include "kernels/ops_support.hpp"
#include "kernels/push_constants.hpp"

namespace crossgpu::ops {
namespace {

using namespace detail;

// How many rows of `row_elements` elements of `type` one binding holds; throws when not one.
std::uint64_t rows_per_binding(const char* op, const char* operand, std::uint64_t row_elements,
                               DType type, const BindingLimits& limits) {
  const std::uint64_t rows = limits.max_elements(type) / std::max<std::uint64_t>(1, row_elements);
  if (rows == 0) {
    fail(Errc::unsupported,
         "{}: one row of '{}' ({} {} elements) exceeds the device's storage-buffer range of {}; "
         "split the matrix into narrower ones",
         op, operand, row_elements, to_string(type), format_bytes(limits.max_bytes));
  }
  return rows;
}

struct MatmulPlan {
  std::uint64_t rows_per_chunk;  // of A and C
  std::uint64_t k_per_chunk;     // rows of B
};

MatmulPlan plan_matmul(const Device& device, MatmulShape s, DType inputs) {
  const BindingLimits limits = binding_limits(device);
  const char* op = "ops::matmul";
  std::uint64_t rows = std::min(rows_per_binding(op, "a", s.k, inputs, limits),
                                rows_per_binding(op, "c", s.n, DType::f32, limits));
  const std::uint64_t max_groups_y = device.properties().limits.max_workgroup_count[1];
  rows = std::min(rows, max_groups_y * kernels::kMatmulTile);
  // Whole tiles per chunk, so that no chunk but the last runs a partly idle tile row.
  if (rows >= kernels::kMatmulTile) rows = rows / kernels::kMatmulTile * kernels::kMatmulTile;
  return {rows, std::min(s.k, rows_per_binding(op, "b", s.n, inputs, limits))};
}

}  // namespace

Event matmul(Stream& stream, TensorRef a, TensorRef b, TensorRef c, MatmulShape s,
             DType inputs) {
  const char* op = "ops::matmul";
  validate(stream, op,
           {{"a", a, matrix_elements(op, s.m, s.k), inputs},
            {"b", b, matrix_elements(op, s.k, s.n), inputs},
            {"c", c, matrix_elements(op, s.m, s.n), DType::f32, true}},
           InPlace::forbidden);
  if (s.m == 0 || s.n == 0) return {};
  if (s.k == 0) return fill(stream, c, s.m * s.n, 0.0f);  // empty sums
  require_type(stream.device(), op, inputs);
  const KernelSpec& kernel = inputs == DType::f16 ? kernels::matmul_f16 : kernels::matmul_f32;
  const BindingLimits limits = binding_limits(stream.device());
  const MatmulPlan plan = plan_matmul(stream.device(), s, inputs);
  return for_each_chunk(s.m, plan.rows_per_chunk, [&](std::uint64_t r0, std::uint64_t rows) {
    return for_each_chunk(s.k, plan.k_per_chunk, [&](std::uint64_t k0, std::uint64_t depth) {
      const Window wa = rows_window(a, inputs, r0 * s.k + k0, rows, depth, s.k, limits);
      const Window wb = window(b, inputs, k0 * s.n, depth * s.n, limits);
      const Window wc = window(c, DType::f32, r0 * s.n, rows * s.n, limits);
      const kernels::MatmulPush push{
          to_u32(rows),  to_u32(s.n), to_u32(depth), to_u32(s.k), to_u32(s.n),
          to_u32(s.n),   wa.offset,   wb.offset,     wc.offset,   k0 > 0 ? 1u : 0u};
      const Groups groups{ceil_div(s.n, kernels::kMatmulTile),
                          to_u32(ceil_div(rows, kernels::kMatmulTile)), 1};
      return dispatch(stream, kernel, {wa.range, wb.range, wc.range}, push, groups);
    });
  });
}

Event matvec(Stream& stream, TensorRef a, TensorRef x, TensorRef y, std::uint64_t rows,
             std::uint64_t cols, DType matrix) {
  const char* op = "ops::matvec";
  validate(stream, op,
           {{"a", a, matrix_elements(op, rows, cols), matrix},
            {"x", x, cols},
            {"y", y, rows, DType::f32, true}},
           InPlace::forbidden);
  if (rows == 0) return {};
  if (cols == 0) return fill(stream, y, rows, 0.0f);  // empty sums
  require_type(stream.device(), op, matrix);
  const KernelSpec& kernel = matrix == DType::f16 ? kernels::matvec_f16 : kernels::matvec_f32;
  const BindingLimits limits = binding_limits(stream.device());
  rows_per_binding(op, "x", cols, DType::f32, limits);  // x is bound whole in every chunk
  const std::uint64_t step = std::min(rows_per_binding(op, "a", cols, matrix, limits),
                                      limits.max_elements(DType::f32));
  const Window wx = window(x, DType::f32, 0, cols, limits);
  return for_each_chunk(rows, step, [&](std::uint64_t r0, std::uint64_t count) {
    const Window wa = window(a, matrix, r0 * cols, count * cols, limits);
    const Window wy = window(y, DType::f32, r0, count, limits);
    const kernels::MatvecPush push{to_u32(count), to_u32(cols), to_u32(cols),
                                   wa.offset,     wx.offset,    wy.offset};
    return dispatch(stream, kernel, {wa.range, wx.range, wy.range}, push, Groups{count, 1, 1});
  });
}

}  // namespace crossgpu::ops
