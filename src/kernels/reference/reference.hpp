// The CPU reference of every op: the ground truth that the shaders and the CPU backend are
// compared with. Plain loops, written to be obviously right rather than fast; sums and dot
// products accumulate in double and round once at the end, so the reference is at least as
// accurate as any kernel it judges. The CPU backend's kernels call these same functions on
// slices of their bindings (kernels/cpu_kernels.hpp).
//
// Outputs may alias inputs element for element (out[i] computed from in[i] only), the in-place
// case the ops allow; any other aliasing is not supported.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/reference/half.hpp"

namespace crossgpu::reference {

// A row-major matrix inside a span: element (r, c) is data[r * stride + c].
template <typename T>
struct MatrixView {
  std::span<T> data;
  std::uint64_t rows = 0;
  std::uint64_t cols = 0;
  std::uint64_t stride = 0;

  T& operator()(std::uint64_t r, std::uint64_t c) const { return data[r * stride + c]; }
  std::span<T> row(std::uint64_t r) const { return data.subspan(r * stride, cols); }
  // Rows [first, first + count).
  MatrixView block(std::uint64_t first, std::uint64_t count) const {
    const std::uint64_t extent = count == 0 ? 0 : (count - 1) * stride + cols;
    return {data.subspan(first * stride, extent), count, cols, stride};
  }
};

// Dense rows x cols, stride == cols.
template <typename T>
MatrixView<T> matrix(std::span<T> data, std::uint64_t rows, std::uint64_t cols) {
  return {data, rows, cols, cols};
}

// --- elementwise (the spans have equal lengths) ---
void fill(std::span<float> out, float value);
void copy(std::span<const float> x, std::span<float> y);
void add(std::span<const float> a, std::span<const float> b, std::span<float> out);
void mul(std::span<const float> a, std::span<const float> b, std::span<float> out);
void scale(std::span<const float> x, std::span<float> y, float alpha);
// y = alpha * x + y with one rounding (std::fma), what a fused multiply-add gives.
void axpy(float alpha, std::span<const float> x, std::span<float> y);
// y = x / (1 + exp(-x)), computed in double.
void silu(std::span<const float> x, std::span<float> y);

// --- matrices (T: float or Half; inputs widen exactly to double) ---
// c = a * b, or c += a * b with `accumulate` (the sum rounded once, then added to c in f32).
template <typename T>
void matmul(MatrixView<const T> a, MatrixView<const T> b, MatrixView<float> c,
            bool accumulate = false);
// y = a * x; x has a.cols elements, y a.rows.
template <typename T>
void matvec(MatrixView<const T> a, std::span<const float> x, std::span<float> y);

// --- row-wise ---
void softmax(MatrixView<const float> x, MatrixView<float> y);
// y[r, c] = x[r, c] * weight[c] / sqrt(mean(x[r, :]^2) + eps); weight has x.cols elements.
void rms_norm(MatrixView<const float> x, std::span<const float> weight, MatrixView<float> y,
              float eps);

// --- reductions ---
float sum(std::span<const float> x);  // 0 for an empty span
float max(std::span<const float> x);  // -inf for an empty span

// f32 value of a kernel input element.
inline float widen(float value) { return value; }
float widen(Half value);

}  // namespace crossgpu::reference
