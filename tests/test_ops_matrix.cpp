// matmul and matvec against the reference on fresh random inputs, on every device.
//
// Tolerance of each output: 2 * sqrt(k) * eps32 * sum_k |a_ik * b_kj| (k: the length of the dot
// product). The kernels add k products in f32, each addition rounding by at most eps32/2 of a
// partial sum no larger than sum |a b|; the roundings are independent and of either sign, so
// their total grows like sqrt(k), and the factor 2 leaves a margin of several standard
// deviations. f16 inputs widen exactly to f32 and their products are exact in f32, so the same
// bound holds. The reference accumulates in double.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ops.hpp"
#include "kernels/reference/reference.hpp"
#include "support/test_devices.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using ops::DType;
using reference::Half;
using reference::matrix;
using testing::all_close;
using testing::kEps32;

std::vector<float> absolute(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = std::abs(values[i]);
  return out;
}

std::vector<float> widened(const std::vector<float>& values) { return values; }
std::vector<float> widened(const std::vector<Half>& values) { return testing::to_floats(values); }

testing::Tolerance dot_tolerance(std::uint64_t k, std::vector<float> abs_products) {
  const double scale = 2.0 * std::sqrt(static_cast<double>(k)) * kEps32;
  return [scale, bound = std::move(abs_products)](std::size_t i) {
    return scale * bound[i] + 1e-30;
  };
}

struct Offsets {
  std::uint64_t a = 0, b = 0, out = 0;
};

class MatrixTest : public testing::DeviceOpsTest {
 protected:
  // A device without 16-bit storage (or with a driver quirk that disables it, see
  // vulkan_device.cpp) must refuse f16 operands up front; that refusal is what gets tested there.
  bool refuses_f16(DType type) { return type == DType::f16 && !device().properties().caps.storage_16bit; }

  template <typename T>
  std::vector<T> random(std::uint64_t n) {
    if constexpr (std::is_same_v<T, Half>) {
      return rng.halves(n);
    } else {
      return rng.floats(n);
    }
  }

  template <typename T>
  void check_matmul(ops::MatmulShape s, Offsets at = {}) {
    SCOPED_TRACE(::testing::Message() << "matmul " << s.m << "x" << s.n << "x" << s.k << " "
                                      << (std::is_same_v<T, Half> ? "f16" : "f32"));
    const DType type = std::is_same_v<T, Half> ? DType::f16 : DType::f32;
    const auto a = random<T>(s.m * s.k);
    const auto b = random<T>(s.k * s.n);
    Buffer da = upload(a, at.a);
    Buffer db = upload(b, at.b);
    Buffer dc = device().allocate(at.out + s.m * s.n * 4);
    if (refuses_f16(type)) {
      EXPECT_TRUE(testing::throws_errc(
          [&] { ops::matmul(stream(), {da, at.a}, {db, at.b}, {dc, at.out}, s, type); }, Errc::unsupported));
      return;
    }
    ops::matmul(stream(), {da, at.a}, {db, at.b}, {dc, at.out}, s, type).wait();

    std::vector<float> want(s.m * s.n), bound(s.m * s.n);
    reference::matmul(matrix<const T>(a, s.m, s.k), matrix<const T>(b, s.k, s.n),
                      matrix<float>(want, s.m, s.n));
    const auto abs_a = absolute(widened(a));
    const auto abs_b = absolute(widened(b));
    reference::matmul(matrix<const float>(abs_a, s.m, s.k),
                      matrix<const float>(abs_b, s.k, s.n), matrix<float>(bound, s.m, s.n));
    EXPECT_TRUE(all_close(download<float>(dc, s.m * s.n, at.out), want,
                          dot_tolerance(s.k, std::move(bound))));
  }

  template <typename T>
  void check_matvec(std::uint64_t rows, std::uint64_t cols, Offsets at = {}) {
    SCOPED_TRACE(::testing::Message() << "matvec " << rows << "x" << cols << " "
                                      << (std::is_same_v<T, Half> ? "f16" : "f32"));
    const DType type = std::is_same_v<T, Half> ? DType::f16 : DType::f32;
    const auto a = random<T>(rows * cols);
    const auto x = rng.floats(cols);
    Buffer da = upload(a, at.a);
    Buffer dx = upload(x, at.b);
    Buffer dy = device().allocate(at.out + rows * 4);
    if (refuses_f16(type)) {
      EXPECT_TRUE(testing::throws_errc(
          [&] { ops::matvec(stream(), {da, at.a}, {dx, at.b}, {dy, at.out}, rows, cols, type); }, Errc::unsupported));
      return;
    }
    ops::matvec(stream(), {da, at.a}, {dx, at.b}, {dy, at.out}, rows, cols, type).wait();

    std::vector<float> want(rows), bound(rows);
    reference::matvec(matrix<const T>(a, rows, cols), x, want);
    const auto abs_a = absolute(widened(a));
    reference::matvec(matrix<const float>(abs_a, rows, cols), absolute(x), bound);
    EXPECT_TRUE(all_close(download<float>(dy, rows, at.out), want,
                          dot_tolerance(cols, std::move(bound))));
  }
};

const ops::MatmulShape kShapes[] = {{1, 1, 1},      {3, 5, 7},    {67, 129, 33},
                                    {130, 70, 257}, {64, 64, 64}, {200, 300, 400}};

TEST_P(MatrixTest, MatmulF32MatchesReference) {
  for (const auto& shape : kShapes) check_matmul<float>(shape);
  check_matmul<float>({256, 384, 512});
}

TEST_P(MatrixTest, MatmulF16MatchesReference) {
  for (const auto& shape : kShapes) check_matmul<Half>(shape);
}

TEST_P(MatrixTest, MatmulAtUnalignedOffsets) {
  check_matmul<float>({67, 129, 33}, {4, 8, 12});
  check_matmul<Half>({67, 129, 33}, {2, 6, 4});
}

// More workgroups than one dimension holds: along x (n) the backend splits the dispatch, along
// y (m) the op does.
TEST_P(MatrixTest, MatmulWithMoreThan65535TileColumnsOrRows) {
  check_matmul<float>({1, 65535 * 64 + 5, 2});
  check_matmul<float>({65535 * 64 + 5, 1, 2});
}

// B beyond one storage-buffer range (128 MiB on lavapipe): the op cuts k and accumulates.
TEST_P(MatrixTest, MatmulWithBBeyondOneStorageBufferRange) {
  check_matmul<float>({3, 4097, 8193});
  check_matmul<Half>({2, 4097, 16385});
}

// A beyond one storage-buffer range: the op cuts the rows of A and C.
TEST_P(MatrixTest, MatmulWithABeyondOneStorageBufferRange) {
  check_matmul<float>({33000, 3, 1024}, {4, 0, 4});
}

TEST_P(MatrixTest, MatmulWithEmptyKWritesZeros) {
  Buffer a = device().allocate(4);
  Buffer c = upload(rng.floats(6));
  ops::matmul(stream(), a, a, c, {2, 3, 0}).wait();
  EXPECT_EQ(download<float>(c, 6), std::vector<float>(6, 0.0f));
}

TEST_P(MatrixTest, MatvecF32MatchesReference) {
  const std::uint64_t shapes[][2] = {{1, 1}, {3, 5}, {1000, 1000}, {129, 4097}, {5, 100'003}};
  for (const auto& [rows, cols] : shapes) check_matvec<float>(rows, cols);
}

TEST_P(MatrixTest, MatvecF16MatchesReference) {
  const std::uint64_t shapes[][2] = {{1, 1}, {3, 5}, {1000, 1000}, {129, 4097}, {5, 100'003}};
  for (const auto& [rows, cols] : shapes) check_matvec<Half>(rows, cols);
}

TEST_P(MatrixTest, MatvecAtUnalignedOffsets) {
  check_matvec<float>(33, 77, {4, 8, 12});
  check_matvec<Half>(33, 77, {2, 4, 8});
}

TEST_P(MatrixTest, MatvecWithMoreThan65535Rows) { check_matvec<float>(70'000, 3); }

TEST_P(MatrixTest, MatvecBeyondOneStorageBufferRange) {
  check_matvec<float>(33'000, 1024, {4, 0, 0});
  check_matvec<Half>(66'000, 1024, {2, 0, 0});
}

INSTANTIATE_TEST_SUITE_P(Devices, MatrixTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
