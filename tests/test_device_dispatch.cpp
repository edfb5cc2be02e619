// Stream::dispatch with real kernels (from crossgpu_kernels) and the timeline around it: ordering
// of dispatches between transfers, workgroup counts above the device limit, events completing
// after flush, and buffers freed while work on them is still queued.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <thread>

#include "device/device.hpp"
#include "kernels/kernels.hpp"
#include "kernels/push_constants.hpp"
#include "support/test_support.hpp"

namespace crossgpu {
namespace {

constexpr float kSentinel = -7.0f;

template <typename Push>
std::span<const std::byte> push_bytes(const Push& push) {
  return std::as_bytes(std::span(&push, 1));
}

Groups elementwise_groups(std::uint64_t n) {
  return {(n + kernels::kElementwiseThreads - 1) / kernels::kElementwiseThreads};
}

class DeviceDispatchTest : public testing::PerDeviceTest {
 protected:
  // A buffer of n floats, all `value`, written by upload.
  Buffer filled(std::uint64_t n, float value) {
    std::vector<float> host(n, value);
    Buffer buffer = device().allocate(n * sizeof(float));
    device().stream().upload(buffer, std::span<const float>(host)).wait();
    return buffer;
  }
  std::vector<float> read(const Buffer& buffer) {
    std::vector<float> host(buffer.size() / sizeof(float));
    device().stream().download(buffer, std::span(host)).wait();
    return host;
  }
  Event fill(const Buffer& out, std::uint64_t n, float value) {
    const kernels::FillPush push{static_cast<std::uint32_t>(n), 0, value};
    const std::array<BufferRange, 1> bindings{BufferRange{out}};
    return device().stream().dispatch(kernels::fill_f32, bindings, push_bytes(push),
                                      elementwise_groups(n));
  }
};

TEST_P(DeviceDispatchTest, FillWritesExactlyItsRange) {
  constexpr std::uint64_t n = 1000;
  Buffer out = filled(n + 64, kSentinel);
  fill(out, n, 3.5f).wait();
  const std::vector<float> got = read(out);
  EXPECT_TRUE(std::all_of(got.begin(), got.begin() + n, [](float v) { return v == 3.5f; }));
  EXPECT_TRUE(std::all_of(got.begin() + n, got.end(), [](float v) { return v == kSentinel; }))
      << "the kernel wrote past its n";
}

// More workgroups in x than the device allows in one dispatch: the backend must split it so
// that the shader still sees one contiguous range of workgroup ids.
TEST_P(DeviceDispatchTest, WorkgroupsAboveTheLimitAreSplit) {
  const DeviceLimits& limits = device().properties().limits;
  const std::uint64_t groups = std::uint64_t{limits.max_workgroup_count[0]} + 2;
  const std::uint64_t n = groups * kernels::kElementwiseThreads;
  if (n * sizeof(float) > std::min<std::uint64_t>(limits.max_storage_buffer_range, 256ull << 20)) {
    GTEST_SKIP() << "x limit " << limits.max_workgroup_count[0] << " too high to exceed here";
  }
  Buffer out = filled(n, kSentinel);
  fill(out, n, 1.25f).wait();
  const std::vector<float> got = read(out);
  const auto wrong = std::find_if(got.begin(), got.end(), [](float v) { return v != 1.25f; });
  EXPECT_EQ(wrong, got.end()) << "element " << (wrong - got.begin()) << " not written";
}

TEST_P(DeviceDispatchTest, ZeroWorkgroupsIsACompleteNoOp) {
  Buffer out = filled(16, kSentinel);
  const kernels::FillPush push{16, 0, 1.0f};
  const std::array<BufferRange, 1> bindings{BufferRange{out}};
  EXPECT_TRUE(
      device().stream().dispatch(kernels::fill_f32, bindings, push_bytes(push), {0}).ready());
  EXPECT_EQ(read(out), std::vector<float>(16, kSentinel));
}

// upload -> dispatch -> copy -> download with no wait in between: only the stream's order
// makes each step see the previous one.
TEST_P(DeviceDispatchTest, DispatchIsOrderedBetweenTransfers) {
  constexpr std::uint64_t n = 100'003;
  std::vector<float> x(n);
  for (std::uint64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 1000) * 0.5f;
  Buffer a = device().allocate(n * sizeof(float));
  Buffer sum = device().allocate(n * sizeof(float));
  Buffer copy = device().allocate(n * sizeof(float));
  Stream& s = device().stream();
  s.upload(a, std::span<const float>(x));
  const kernels::BinaryPush push{static_cast<std::uint32_t>(n), 0, 0, 0};
  const std::array<BufferRange, 3> bindings{BufferRange{a}, BufferRange{a}, BufferRange{sum}};
  s.dispatch(kernels::add_f32, bindings, push_bytes(push), elementwise_groups(n));
  s.copy(sum, 0, copy, 0, n * sizeof(float));
  std::vector<float> got(n);
  s.download(copy, std::span(got));
  s.synchronize();
  for (std::uint64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], 2 * x[i]) << "element " << i;
}

// An event must complete once its work is submitted, without anyone waiting on it.
TEST_P(DeviceDispatchTest, EventBecomesReadyAfterFlushWithoutWait) {
  Buffer a = filled(1 << 20, 1.0f);
  Buffer b = device().allocate(a.size());
  Event copied = device().stream().copy(a, 0, b, 0, a.size());
  device().stream().flush();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!copied.ready() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(copied.ready());
  EXPECT_EQ(read(b), std::vector<float>(1 << 20, 1.0f));
}

// Buffer::reset frees "after pending work on it completes": the queued copy still reads it.
TEST_P(DeviceDispatchTest, FreeWhileWorkIsQueuedIsSafe) {
  const MemoryUsage before = device().usage();
  const auto data = testing::random_bytes(8 << 20, 5);
  Buffer b = device().allocate(data.size());
  {
    Buffer a = device().allocate(data.size());
    device().stream().upload(a, 0, std::span<const std::byte>(data));
    device().stream().copy(a, 0, b, 0, data.size());
    fill(a, 1024, 0.0f);  // a kernel still queued on `a` too
  }                       // `a` freed here, its work not yet waited for
  std::vector<std::byte> got(data.size());
  device().stream().download(b, 0, got).wait();
  EXPECT_TRUE(got == data);
  EXPECT_EQ(device().usage().live_buffers, before.live_buffers + 1);
}

INSTANTIATE_TEST_SUITE_P(All, DeviceDispatchTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
