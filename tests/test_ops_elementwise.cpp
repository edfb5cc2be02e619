// Elementwise ops against the reference on fresh random inputs, on every device, across sizes
// that are awkward for the kernels: 1, 3, non-multiples of the workgroup size, more than 65535
// workgroups (the backend splits the dispatch) and more than one storage-buffer range (the op
// splits the work). Tolerances: fill, copy, add, mul and scale are exact (IEEE correctly rounded
// in Vulkan and in C++); axpy may be fused or not (Vulkan's fma is allowed to round twice), so it
// gets one rounding of |alpha * x| + |y|; silu goes through exp, whose Vulkan error bound is
// 3 + 2|x| ulp, so with |x| < 8 it gets 32 ulp relative.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ops.hpp"
#include "kernels/reference/reference.hpp"
#include "support/test_devices.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using testing::all_close;
using testing::all_equal;
using testing::kEps32;

// 65535 * 256 + 7 elements: 65536 workgroups of 256, one more than a dimension may hold.
constexpr std::uint64_t kManyGroups = 65535ull * 256 + 7;
// 34M floats: 136 MB per operand, beyond lavapipe's 128 MiB storage-buffer range.
constexpr std::uint64_t kBeyondRange = 34'000'000;

const std::uint64_t kSizes[] = {1, 3, 255, 257, 1'000'003, kManyGroups};

class ElementwiseTest : public testing::DeviceOpsTest {
 protected:
  // out = a + b with operands at the given byte offsets of their buffers.
  void check_add(std::uint64_t n, std::uint64_t a_at, std::uint64_t b_at, std::uint64_t out_at) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto a = rng.floats(n);
    const auto b = rng.floats(n);
    Buffer da = upload(a, a_at);
    Buffer db = upload(b, b_at);
    Buffer dout = device().allocate(out_at + n * 4);
    ops::add(stream(), {da, a_at}, {db, b_at}, {dout, out_at}, n).wait();
    std::vector<float> want(n);
    reference::add(a, b, want);
    EXPECT_TRUE(all_equal(download<float>(dout, n, out_at), want));
  }
};

TEST_P(ElementwiseTest, FillWritesTheValue) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const float value = rng.uniform(-100, 100);
    Buffer out = device().allocate(n * 4);
    ops::fill(stream(), out, n, value).wait();
    EXPECT_TRUE(all_equal(download<float>(out, n), std::vector<float>(n, value)));
  }
}

TEST_P(ElementwiseTest, CopyCopies) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto x = rng.floats(n, -1e30f, 1e30f);
    Buffer src = upload(x);
    Buffer dst = device().allocate(n * 4);
    ops::copy(stream(), src, dst, n).wait();
    EXPECT_TRUE(all_equal(download<float>(dst, n), x));
  }
}

TEST_P(ElementwiseTest, AddMatchesReference) {
  for (std::uint64_t n : kSizes) check_add(n, 0, 0, 0);
}

// Offsets that are whole elements but not multiples of the binding alignment (16 on lavapipe).
TEST_P(ElementwiseTest, AddAtUnalignedOffsets) {
  for (std::uint64_t n : {1ull, 1000ull, 65537ull}) check_add(n, 4, 8, 12);
}

TEST_P(ElementwiseTest, AddBeyondOneStorageBufferRangeAtOffsets) {
  check_add(kBeyondRange, 4, 0, 44);
}

TEST_P(ElementwiseTest, MulMatchesReference) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto a = rng.floats(n, -1000, 1000);
    const auto b = rng.floats(n, -1000, 1000);
    Buffer da = upload(a);
    Buffer db = upload(b);
    Buffer out = device().allocate(n * 4);
    ops::mul(stream(), da, db, out, n).wait();
    std::vector<float> want(n);
    reference::mul(a, b, want);
    EXPECT_TRUE(all_equal(download<float>(out, n), want));
  }
}

TEST_P(ElementwiseTest, ScaleMatchesReference) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto x = rng.floats(n, -1000, 1000);
    const float alpha = rng.uniform(-3, 3);
    Buffer dx = upload(x);
    Buffer out = device().allocate(n * 4);
    ops::scale(stream(), dx, out, n, alpha).wait();
    std::vector<float> want(n);
    reference::scale(x, want, alpha);
    EXPECT_TRUE(all_equal(download<float>(out, n), want));
  }
}

TEST_P(ElementwiseTest, ScaleBeyondOneStorageBufferRangeInPlace) {
  const auto x = rng.floats(kBeyondRange);
  Buffer dx = upload(x, 4);
  ops::scale(stream(), {dx, 4}, {dx, 4}, kBeyondRange, -0.5f).wait();
  std::vector<float> want(kBeyondRange);
  reference::scale(x, want, -0.5f);
  EXPECT_TRUE(all_equal(download<float>(dx, kBeyondRange, 4), want));
}

TEST_P(ElementwiseTest, AxpyMatchesReference) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto x = rng.floats(n, -10, 10);
    const auto y = rng.floats(n, -10, 10);
    const float alpha = rng.uniform(-2, 2);
    Buffer dx = upload(x);
    Buffer dy = upload(y);
    ops::axpy(stream(), alpha, dx, dy, n).wait();
    std::vector<float> want = y;
    reference::axpy(alpha, x, want);
    const auto tolerance = [&](std::size_t i) {
      return kEps32 * (std::abs(double{alpha} * x[i]) + std::abs(y[i]));
    };
    EXPECT_TRUE(all_close(download<float>(dy, n), want, tolerance));
  }
}

TEST_P(ElementwiseTest, SiluMatchesReference) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto x = rng.floats(n, -8, 8);
    Buffer dx = upload(x);
    Buffer out = device().allocate(n * 4);
    ops::silu(stream(), dx, out, n).wait();
    std::vector<float> want(n);
    reference::silu(x, want);
    const auto tolerance = [&](std::size_t i) { return 32 * kEps32 * std::abs(want[i]); };
    EXPECT_TRUE(all_close(download<float>(out, n), want, tolerance));
  }
}

// Near the ends of the f32 range. Vulkan lets a device flush denormal intermediates to zero
// (exp(-88) is one), so results below 1e-30 may come out as 0; none may be NaN or infinite.
TEST_P(ElementwiseTest, SiluOfExtremesIsFinite) {
  const std::vector<float> x = {-1000.0f, -88.0f, -87.0f, 0.0f, 88.0f, 1000.0f};
  Buffer dx = upload(x);
  ops::silu(stream(), dx, dx, x.size()).wait();  // in place
  const auto got = download<float>(dx, x.size());
  std::vector<float> want(x.size());
  reference::silu(x, want);
  const auto tolerance = [&](std::size_t i) { return 32 * kEps32 * std::abs(want[i]) + 1e-30; };
  EXPECT_TRUE(all_close(got, want, tolerance));
}

TEST_P(ElementwiseTest, InPlaceAddAndMul) {
  const std::uint64_t n = 100'003;
  const auto a = rng.floats(n);
  const auto b = rng.floats(n);
  Buffer da = upload(a);
  Buffer db = upload(b);
  ops::add(stream(), da, db, da, n);     // a += b
  ops::mul(stream(), da, db, db, n).wait();  // b *= a
  std::vector<float> sum(n), product(n);
  reference::add(a, b, sum);
  reference::mul(sum, b, product);
  EXPECT_TRUE(all_equal(download<float>(da, n), sum));
  EXPECT_TRUE(all_equal(download<float>(db, n), product));
}

// The ops chain on one stream without waits in between: the stream keeps them in order.
TEST_P(ElementwiseTest, ChainedOpsRunInOrder) {
  const std::uint64_t n = 4099;
  const auto x = rng.floats(n);
  Buffer dx = upload(x);
  Buffer dy = device().allocate(n * 4);
  ops::fill(stream(), dy, n, 1.0f);
  ops::axpy(stream(), 2.0f, dx, dy, n);
  ops::silu(stream(), dy, dy, n);
  ops::scale(stream(), dy, dy, n, 0.5f).wait();
  std::vector<float> want(n, 1.0f);
  reference::axpy(2.0f, x, want);
  reference::silu(want, want);
  reference::scale(want, want, 0.5f);
  EXPECT_TRUE(all_close(download<float>(dy, n), want,
                        [&](std::size_t i) { return 64 * kEps32 * std::abs(want[i]) + 1e-7; }));
}

TEST_P(ElementwiseTest, ZeroElementsIsANoOp) {
  Buffer out = upload(std::vector<float>{7.0f});
  EXPECT_TRUE(ops::fill(stream(), out, 0, 1.0f).ready());
  EXPECT_TRUE(ops::add(stream(), out, out, out, 0).ready());
  EXPECT_EQ(download<float>(out, 1)[0], 7.0f);
}

INSTANTIATE_TEST_SUITE_P(Devices, ElementwiseTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
