// The reference itself, on cases small enough to work out by hand: it is the ground truth of
// every other test, so it is checked against arithmetic rather than against code.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/reference/reference.hpp"

namespace crossgpu::reference {
namespace {

TEST(Reference, Elementwise) {
  const std::vector<float> a = {1, 2, 3};
  const std::vector<float> b = {10, 20, 30};
  std::vector<float> out(3);
  add(a, b, out);
  EXPECT_EQ(out, (std::vector<float>{11, 22, 33}));
  mul(a, b, out);
  EXPECT_EQ(out, (std::vector<float>{10, 40, 90}));
  scale(a, out, -2);
  EXPECT_EQ(out, (std::vector<float>{-2, -4, -6}));
  out = b;
  axpy(3, a, out);
  EXPECT_EQ(out, (std::vector<float>{13, 26, 39}));
  fill(out, 4);
  EXPECT_EQ(out, (std::vector<float>{4, 4, 4}));
  copy(a, out);
  EXPECT_EQ(out, a);
}

TEST(Reference, Silu) {
  const std::vector<float> x = {0, 1, -1, -1000, 1000};
  std::vector<float> y(x.size());
  silu(x, y);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_FLOAT_EQ(y[1], static_cast<float>(1 / (1 + std::exp(-1.0))));
  EXPECT_FLOAT_EQ(y[2], static_cast<float>(-1 / (1 + std::exp(1.0))));
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_EQ(y[4], 1000.0f);
}

TEST(Reference, MatmulOfKnownMatrices) {
  // [1 2 3]   [1 0]   [ 4  5]
  // [4 5 6] * [0 1] = [10 11]
  //           [1 1]
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<float> b = {1, 0, 0, 1, 1, 1};
  std::vector<float> c(4, 100);
  matmul(matrix<const float>(a, 2, 3), matrix<const float>(b, 3, 2), matrix<float>(c, 2, 2));
  EXPECT_EQ(c, (std::vector<float>{4, 5, 10, 11}));
  matmul(matrix<const float>(a, 2, 3), matrix<const float>(b, 3, 2), matrix<float>(c, 2, 2),
         true);
  EXPECT_EQ(c, (std::vector<float>{8, 10, 20, 22}));
}

TEST(Reference, MatmulOfHalvesAndStridedViews) {
  // The left 2x2 block of a 2x3 matrix (stride 3) times identity.
  std::vector<Half> a;
  for (float v : {1.5f, -2.0f, 99.0f, 0.25f, 8.0f, 99.0f}) a.push_back(to_half(v));
  const std::vector<Half> identity = {to_half(1), to_half(0), to_half(0), to_half(1)};
  std::vector<float> c(4);
  matmul(MatrixView<const Half>{a, 2, 2, 3}, matrix<const Half>(identity, 2, 2),
         matrix<float>(c, 2, 2));
  EXPECT_EQ(c, (std::vector<float>{1.5f, -2.0f, 0.25f, 8.0f}));
}

TEST(Reference, MatvecAccumulatesInDouble) {
  // In f32, 1e8 + 1 - 1e8 is 0; the reference keeps the 1.
  const std::vector<float> a = {1e8f, 1.0f, -1e8f};
  const std::vector<float> x = {1, 1, 1};
  std::vector<float> y(1);
  matvec(matrix<const float>(a, 1, 3), x, y);
  EXPECT_EQ(y[0], 1.0f);
}

TEST(Reference, SoftmaxIsStableAndNormalized) {
  const std::vector<float> x = {0.0f, std::log(3.0f), 1000.0f, 1000.0f};
  std::vector<float> y(4);
  softmax(matrix<const float>(x, 2, 2), matrix<float>(y, 2, 2));
  EXPECT_FLOAT_EQ(y[0], 0.25f);
  EXPECT_FLOAT_EQ(y[1], 0.75f);
  EXPECT_EQ(y[2], 0.5f);  // exp(1000) would overflow: the maximum is subtracted first
  EXPECT_EQ(y[3], 0.5f);
}

TEST(Reference, RmsNorm) {
  // Row [3, 4]: mean square 12.5; with eps 0 the norm is sqrt(12.5).
  const std::vector<float> x = {3, 4};
  const std::vector<float> w = {1, 2};
  std::vector<float> y(2);
  rms_norm(matrix<const float>(x, 1, 2), w, matrix<float>(y, 1, 2), 0.0f);
  EXPECT_FLOAT_EQ(y[0], static_cast<float>(3 / std::sqrt(12.5)));
  EXPECT_FLOAT_EQ(y[1], static_cast<float>(8 / std::sqrt(12.5)));
}

TEST(Reference, Reductions) {
  const std::vector<float> x = {1e8f, 1.0f, -1e8f, -5.0f};
  EXPECT_EQ(sum(x), -4.0f);
  EXPECT_EQ(max(x), 1e8f);
  EXPECT_EQ(sum({}), 0.0f);
  EXPECT_EQ(max({}), -std::numeric_limits<float>::infinity());
}

}  // namespace
}  // namespace crossgpu::reference
