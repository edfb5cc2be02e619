#include "kernels/reference/reference.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace crossgpu::reference {
namespace {

// All 65536 halves widened once: table lookup keeps f16 matrix references as fast as f32 ones.
const std::array<float, 65536>& half_table() {
  static const std::array<float, 65536> table = [] {
    std::array<float, 65536> out{};
    for (std::uint32_t i = 0; i < out.size(); ++i) {
      out[i] = to_float(static_cast<Half>(static_cast<std::uint16_t>(i)));
    }
    return out;
  }();
  return table;
}

}  // namespace

float widen(Half value) { return half_table()[bits(value)]; }

void fill(std::span<float> out, float value) {
  for (float& v : out) v = value;
}

void copy(std::span<const float> x, std::span<float> y) {
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i];
}

void add(std::span<const float> a, std::span<const float> b, std::span<float> out) {
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
}

void mul(std::span<const float> a, std::span<const float> b, std::span<float> out) {
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] * b[i];
}

void scale(std::span<const float> x, std::span<float> y, float alpha) {
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = alpha * x[i];
}

void axpy(float alpha, std::span<const float> x, std::span<float> y) {
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = std::fma(alpha, x[i], y[i]);
}

void silu(std::span<const float> x, std::span<float> y) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    y[i] = static_cast<float>(v / (1.0 + std::exp(-v)));
  }
}

template <typename T>
void matmul(MatrixView<const T> a, MatrixView<const T> b, MatrixView<float> c, bool accumulate) {
  // Row by row, k outer and columns inner: the inner loop walks B and the accumulators
  // contiguously.
  std::vector<double> acc(c.cols);
  for (std::uint64_t r = 0; r < c.rows; ++r) {
    acc.assign(c.cols, 0.0);
    for (std::uint64_t k = 0; k < a.cols; ++k) {
      const double av = widen(a(r, k));
      const std::span<const T> b_row = b.row(k);
      for (std::uint64_t j = 0; j < c.cols; ++j) acc[j] += av * widen(b_row[j]);
    }
    for (std::uint64_t j = 0; j < c.cols; ++j) {
      const float value = static_cast<float>(acc[j]);
      c(r, j) = accumulate ? c(r, j) + value : value;
    }
  }
}

template <typename T>
void matvec(MatrixView<const T> a, std::span<const float> x, std::span<float> y) {
  for (std::uint64_t r = 0; r < a.rows; ++r) {
    double acc = 0.0;
    for (std::uint64_t c = 0; c < a.cols; ++c) acc += double{widen(a(r, c))} * x[c];
    y[r] = static_cast<float>(acc);
  }
}

template void matmul<float>(MatrixView<const float>, MatrixView<const float>, MatrixView<float>,
                            bool);
template void matmul<Half>(MatrixView<const Half>, MatrixView<const Half>, MatrixView<float>,
                           bool);
template void matvec<float>(MatrixView<const float>, std::span<const float>, std::span<float>);
template void matvec<Half>(MatrixView<const Half>, std::span<const float>, std::span<float>);

void softmax(MatrixView<const float> x, MatrixView<float> y) {
  for (std::uint64_t r = 0; r < x.rows; ++r) {
    const std::span<const float> in = x.row(r);
    const double row_max = max(in);
    double total = 0.0;
    for (float v : in) total += std::exp(v - row_max);
    const std::span<float> out = y.row(r);
    for (std::uint64_t c = 0; c < x.cols; ++c) {
      out[c] = static_cast<float>(std::exp(in[c] - row_max) / total);
    }
  }
}

void rms_norm(MatrixView<const float> x, std::span<const float> weight, MatrixView<float> y,
              float eps) {
  for (std::uint64_t r = 0; r < x.rows; ++r) {
    const std::span<const float> in = x.row(r);
    double squares = 0.0;
    for (float v : in) squares += double{v} * v;
    const double inv_rms = 1.0 / std::sqrt(squares / static_cast<double>(x.cols) + eps);
    const std::span<float> out = y.row(r);
    for (std::uint64_t c = 0; c < x.cols; ++c) {
      out[c] = static_cast<float>(in[c] * inv_rms * weight[c]);
    }
  }
}

float sum(std::span<const float> x) {
  double total = 0.0;
  for (float v : x) total += v;
  return static_cast<float>(total);
}

float max(std::span<const float> x) {
  float best = -std::numeric_limits<float>::infinity();
  for (float v : x) best = v > best ? v : best;
  return best;
}

}  // namespace crossgpu::reference
