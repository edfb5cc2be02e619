// softmax and rms_norm against the reference on fresh random inputs, on every device.
//
// Tolerances, relative to each expected output: eps32 * (64 + 4 * sqrt(cols)). The constant
// covers the per-element work (Vulkan's exp is within 3 + 2|x| ulp, and softmax's arguments
// x - max lie in [-16, 0] here; inversesqrt within 2 ulp; two multiplications); the sqrt(cols)
// term covers the f32 sum over the row (random rounding errors add like a random walk, the
// factor 4 leaves a margin of several standard deviations). The reference works in double.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ops.hpp"
#include "kernels/reference/reference.hpp"
#include "support/test_devices.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using reference::matrix;
using testing::all_close;
using testing::kEps32;

testing::Tolerance row_tolerance(std::uint64_t cols, const std::vector<float>& want) {
  const double relative = kEps32 * (64 + 4 * std::sqrt(static_cast<double>(cols)));
  return [relative, &want](std::size_t i) { return relative * std::abs(want[i]) + 1e-30; };
}

class RowsTest : public testing::DeviceOpsTest {
 protected:
  // Every third row is shifted by +500: exp of it overflows f32 unless the row maximum is
  // subtracted first, so these rows check the numerically stable formulation.
  std::vector<float> softmax_input(std::uint64_t rows, std::uint64_t cols) {
    auto x = rng.floats(rows * cols, -8, 8);
    for (std::uint64_t r = 0; r < rows; r += 3) {
      for (std::uint64_t c = 0; c < cols; ++c) x[r * cols + c] += 500.0f;
    }
    return x;
  }

  void check_softmax(std::uint64_t rows, std::uint64_t cols, bool in_place = false) {
    SCOPED_TRACE(::testing::Message() << "softmax " << rows << "x" << cols);
    const std::uint64_t n = rows * cols;
    const auto x = softmax_input(rows, cols);
    Buffer dx = upload(x, 4);
    Buffer separate = device().allocate(n * 4 + 8);
    const ops::TensorRef y = in_place ? ops::TensorRef(dx, 4) : ops::TensorRef(separate, 8);
    ops::softmax(stream(), {dx, 4}, y, rows, cols).wait();
    std::vector<float> want(n);
    reference::softmax(matrix<const float>(x, rows, cols), matrix<float>(want, rows, cols));
    EXPECT_TRUE(all_close(download<float>(y.buffer, n, y.byte_offset), want,
                          row_tolerance(cols, want)));
  }

  void check_rms_norm(std::uint64_t rows, std::uint64_t cols, bool in_place = false) {
    SCOPED_TRACE(::testing::Message() << "rms_norm " << rows << "x" << cols);
    const std::uint64_t n = rows * cols;
    const auto x = rng.floats(n, -3, 3);
    const auto w = rng.floats(cols, -2, 2);
    const float eps = 1e-5f;
    Buffer dx = upload(x);
    Buffer dw = upload(w, 12);
    Buffer separate = device().allocate(n * 4 + 4);
    const ops::TensorRef y = in_place ? ops::TensorRef(dx) : ops::TensorRef(separate, 4);
    ops::rms_norm(stream(), dx, {dw, 12}, y, rows, cols, eps).wait();
    std::vector<float> want(n);
    reference::rms_norm(matrix<const float>(x, rows, cols), w, matrix<float>(want, rows, cols),
                        eps);
    EXPECT_TRUE(all_close(download<float>(y.buffer, n, y.byte_offset), want,
                          row_tolerance(cols, want)));
  }
};

const std::uint64_t kShapes[][2] = {{1, 1}, {3, 5}, {7, 1000}, {130, 4097}, {2, 100'003}};

TEST_P(RowsTest, SoftmaxMatchesReference) {
  for (const auto& [rows, cols] : kShapes) check_softmax(rows, cols);
}

TEST_P(RowsTest, SoftmaxInPlace) { check_softmax(33, 129, true); }

TEST_P(RowsTest, SoftmaxWithMoreThan65535Rows) { check_softmax(70'000, 3); }

TEST_P(RowsTest, SoftmaxBeyondOneStorageBufferRange) { check_softmax(1057, 32'000); }

TEST_P(RowsTest, RmsNormMatchesReference) {
  for (const auto& [rows, cols] : kShapes) check_rms_norm(rows, cols);
}

TEST_P(RowsTest, RmsNormInPlace) { check_rms_norm(33, 129, true); }

TEST_P(RowsTest, RmsNormWithMoreThan65535Rows) { check_rms_norm(70'000, 3); }

TEST_P(RowsTest, RmsNormBeyondOneStorageBufferRange) { check_rms_norm(1057, 32'000); }

// A row of zeros: mean square 0, so the result is 0 * w / sqrt(eps) = 0, not NaN.
TEST_P(RowsTest, RmsNormOfZerosIsZero) {
  Buffer x = upload(std::vector<float>(10, 0.0f));
  Buffer w = upload(std::vector<float>(10, 3.0f));
  ops::rms_norm(stream(), x, w, x, 1, 10).wait();
  EXPECT_EQ(download<float>(x, 10), std::vector<float>(10, 0.0f));
}

INSTANTIATE_TEST_SUITE_P(Devices, RowsTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
