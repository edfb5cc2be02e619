// sum and max against the reference on fresh random inputs, on every device, for sizes that
// need one, two and three levels of the reduction, and more than one storage-buffer range.
//
// max is exact. sum's tolerance is 64 * eps32 * sum|x|: the kernels add in f32 along a tree
// (16 sequential additions per invocation, then log2 levels within and across workgroups, under
// 50 roundings deep for any n here), and every rounding is at most eps32/2 of a partial sum no
// larger than sum|x|: a worst-case bound, not a statistical one. The reference adds in double.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/ops.hpp"
#include "kernels/reference/reference.hpp"
#include "support/test_devices.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using testing::kEps32;

// 1, within a block, block boundaries (4096), two levels, three levels (4096^2 + 1), and
// beyond lavapipe's 128 MiB storage-buffer range.
const std::uint64_t kSizes[] = {1, 3, 4095, 4096, 4097, 1'000'003, 4096ull * 4096 + 1, 34'000'000};

class ReduceTest : public testing::DeviceOpsTest {
 protected:
  float device_sum(const std::vector<float>& x, std::uint64_t at) {
    Buffer dx = upload(x, at);
    Buffer out = device().allocate(12);
    ops::sum(stream(), {dx, at}, {out, 8}, x.size()).wait();
    return download<float>(out, 1, 8)[0];
  }
  float device_max(const std::vector<float>& x, std::uint64_t at) {
    Buffer dx = upload(x, at);
    Buffer out = device().allocate(4);
    ops::max(stream(), {dx, at}, out, x.size()).wait();
    return download<float>(out, 1)[0];
  }
};

TEST_P(ReduceTest, SumMatchesReference) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto x = rng.floats(n, -1, 1);
    double abs_sum = 0;
    for (float v : x) abs_sum += std::abs(v);
    EXPECT_NEAR(device_sum(x, 4), reference::sum(x), 64 * kEps32 * abs_sum);
  }
}

// All positive: no cancellation, so the bound is tight relative to the result itself.
TEST_P(ReduceTest, SumOfPositiveValues) {
  const auto x = rng.floats(4096ull * 4096 + 1, 0.5f, 1.5f);
  const float want = reference::sum(x);
  EXPECT_NEAR(device_sum(x, 0), want, 64 * kEps32 * want);
}

TEST_P(ReduceTest, MaxMatchesReference) {
  for (std::uint64_t n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    // All negative, so a kernel that pads with 0 instead of -inf would be caught.
    const auto x = rng.floats(n, -1000, -1);
    EXPECT_EQ(device_max(x, 12), reference::max(x));
  }
}

TEST_P(ReduceTest, MaxFindsTheSingleLargestElementAnywhere) {
  const std::uint64_t n = 4096ull * 4096 + 1;
  auto x = rng.floats(n, -1, 1);
  for (std::uint64_t at : {std::uint64_t{0}, n / 2 + 17, n - 1}) {
    SCOPED_TRACE(::testing::Message() << "largest at " << at);
    auto y = x;
    y[at] = 2.0f;
    EXPECT_EQ(device_max(y, 0), 2.0f);
  }
}

// The scratch buffer of each call is freed when the call returns, before its work has run: the
// device must keep it alive until then. Three reductions in flight at once check that.
TEST_P(ReduceTest, ReductionsInFlightKeepTheirScratch) {
  const std::uint64_t n = 3'000'017;
  std::vector<std::vector<float>> inputs;
  std::vector<Buffer> buffers;
  Buffer out = device().allocate(3 * 4);
  for (std::uint64_t i = 0; i < 3; ++i) {
    inputs.push_back(rng.floats(n, -1, 1));
    buffers.push_back(upload(inputs.back()));
  }
  for (std::uint64_t i = 0; i < 3; ++i) ops::max(stream(), buffers[i], {out, i * 4}, n);
  stream().synchronize();
  const auto got = download<float>(out, 3);
  for (std::uint64_t i = 0; i < 3; ++i) EXPECT_EQ(got[i], reference::max(inputs[i])) << i;
}

TEST_P(ReduceTest, EmptyInputGivesTheIdentity) {
  Buffer x = device().allocate(4);
  Buffer out = upload(std::vector<float>{5.0f, 5.0f});
  ops::sum(stream(), x, out, 0);
  ops::max(stream(), x, {out, 4}, 0).wait();
  const auto got = download<float>(out, 2);
  EXPECT_EQ(got[0], 0.0f);
  EXPECT_EQ(got[1], -std::numeric_limits<float>::infinity());
}

INSTANTIATE_TEST_SUITE_P(Devices, ReduceTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
