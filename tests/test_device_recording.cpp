// Stream recordings (device/recording.hpp) on every device: a recorded chain of ops replays to
// the same result as running it, reads its buffers as they are at replay time, can be queued
// twice before either runs, outlives nothing it needs, and refuses what cannot be recorded.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "device/device.hpp"
#include "kernels/ops.hpp"
#include "support/test_support.hpp"

namespace crossgpu {
namespace {

constexpr std::uint64_t kN = 3000;  // not a multiple of a workgroup

class DeviceRecordingTest : public testing::PerDeviceTest {
 protected:
  Stream& stream() { return device().stream(); }
  Buffer make(const std::vector<float>& values) {
    Buffer buffer = device().allocate(values.size() * sizeof(float));
    stream().upload(buffer, std::span<const float>(values)).wait();
    return buffer;
  }
  std::vector<float> read(const Buffer& buffer) {
    std::vector<float> host(buffer.size() / sizeof(float));
    stream().download(buffer, std::span(host)).wait();
    return host;
  }
  // out = 2 * (a + b), then a = 1: three ops whose order matters.
  void record_chain(const Buffer& a, const Buffer& b, const Buffer& out) {
    ops::add(stream(), a, b, out, kN);
    ops::scale(stream(), out, out, kN, 2.0f);
    ops::fill(stream(), a, kN, 1.0f);
  }
};

TEST_P(DeviceRecordingTest, ReplayComputesWhatTheOpsComputeWithTheBuffersOfReplayTime) {
  Buffer a = make(std::vector<float>(kN, 3.0f));
  Buffer b = make(std::vector<float>(kN, 0.5f));
  Buffer out = make(std::vector<float>(kN, -1.0f));
  stream().begin_recording();
  EXPECT_TRUE(stream().recording());
  record_chain(a, b, out);
  const Recording program = stream().end_recording();
  EXPECT_FALSE(stream().recording());
  EXPECT_EQ(program.dispatches(), 3u);
  // Nothing ran while recording.
  EXPECT_EQ(read(out), std::vector<float>(kN, -1.0f));
  EXPECT_EQ(read(a), std::vector<float>(kN, 3.0f));

  stream().replay(program).wait();
  EXPECT_EQ(read(out), std::vector<float>(kN, 7.0f));  // 2 * (3 + 0.5)
  EXPECT_EQ(read(a), std::vector<float>(kN, 1.0f));

  // The second replay reads a (now 1) and a new b.
  stream().upload(b, std::span<const float>(std::vector<float>(kN, 4.0f))).wait();
  stream().replay(program).wait();
  EXPECT_EQ(read(out), std::vector<float>(kN, 10.0f));  // 2 * (1 + 4)
}

TEST_P(DeviceRecordingTest, QueuedTwiceBeforeEitherRunsAndOrderedWithTransfers) {
  Buffer a = make(std::vector<float>(kN, 0.0f));
  Buffer b = make(std::vector<float>(kN, 1.0f));
  Buffer out = make(std::vector<float>(kN, 0.0f));
  stream().begin_recording();
  ops::add(stream(), a, b, a, kN);  // a += 1
  const Recording increment = stream().end_recording();
  stream().replay(increment);
  stream().replay(increment);
  std::vector<float> middle(kN);
  stream().download(a, std::span(middle));  // queued between the replays
  stream().replay(increment);
  stream().synchronize();
  EXPECT_EQ(middle, std::vector<float>(kN, 2.0f));
  EXPECT_EQ(read(a), std::vector<float>(kN, 3.0f));
}

TEST_P(DeviceRecordingTest, ARecordingFreedWhileItsReplayIsQueuedWaitsForIt) {
  Buffer a = make(std::vector<float>(kN, 0.0f));
  Buffer b = make(std::vector<float>(kN, 2.0f));
  {
    stream().begin_recording();
    ops::add(stream(), a, b, a, kN);
    const Recording program = stream().end_recording();
    stream().replay(program);
    stream().flush();
  }
  EXPECT_EQ(read(a), std::vector<float>(kN, 2.0f));
}

TEST_P(DeviceRecordingTest, RefusesWhatCannotBeRecorded) {
  Buffer a = make(std::vector<float>(kN, 0.0f));
  std::vector<float> host(kN);
  EXPECT_TRUE(testing::throws_errc([&] { stream().end_recording(); }, Errc::invalid_argument));
  EXPECT_TRUE(testing::throws_errc([&] { stream().replay(Recording{}); }, Errc::invalid_argument));
  stream().begin_recording();
  EXPECT_TRUE(testing::throws_errc([&] { stream().begin_recording(); }, Errc::invalid_argument));
  EXPECT_TRUE(testing::throws_errc([&] { stream().upload(a, std::span<const float>(host)); },
                                   Errc::invalid_argument));
  EXPECT_TRUE(testing::throws_errc([&] { stream().download(a, std::span(host)); }, Errc::invalid_argument));
  EXPECT_TRUE(testing::throws_errc([&] { stream().copy(a, 0, a, 4, 4); }, Errc::invalid_argument));
  EXPECT_TRUE(testing::throws_errc([&] { stream().synchronize(); }, Errc::invalid_argument));
  ops::fill(stream(), a, kN, 5.0f);
  const Recording program = stream().end_recording();
  // Only the stream that recorded it replays it.
  std::unique_ptr<Stream> other = device().create_stream();
  EXPECT_TRUE(testing::throws_errc([&] { other->replay(program); }, Errc::invalid_argument));
  stream().replay(program).wait();
  EXPECT_EQ(read(a), std::vector<float>(kN, 5.0f));
}

// CROSSGPU_VULKAN_PROFILE=1 (device/vulkan/dispatch_profile.hpp): a Vulkan recording times its
// dispatches on the GPU and, when freed, prints one line per dispatch with its kernel and the
// mean over the replays that ran; the replays still compute what they compute without it.
TEST_P(DeviceRecordingTest, AProfiledRecordingTimesEachDispatchAndStillComputes) {
  if (device().properties().backend != Backend::vulkan) GTEST_SKIP() << "a Vulkan recording's profile";
  ::setenv("CROSSGPU_VULKAN_PROFILE", "1", 1);
  Buffer a = make(std::vector<float>(kN, 3.0f));
  Buffer b = make(std::vector<float>(kN, 0.5f));
  Buffer out = device().allocate(kN * sizeof(float));
  ::testing::internal::CaptureStderr();
  {
    stream().begin_recording();
    record_chain(a, b, out);
    const Recording program = stream().end_recording();
    ::unsetenv("CROSSGPU_VULKAN_PROFILE");
    for (int i = 0; i < 3; ++i) stream().replay(program).wait();
    EXPECT_EQ(read(out), std::vector<float>(kN, 3.0f));  // 2 * (1 + 0.5) after the first
  }
  const std::string printed = ::testing::internal::GetCapturedStderr();
  // The first replays' times are read when the next is recorded, the last one's when freed.
  EXPECT_NE(printed.find("(3 dispatches, mean of 3 replays)"), std::string::npos) << printed;
  for (const char* kernel : {"add_f32", "scale_f32", "fill_f32"}) {
    EXPECT_NE(printed.find(kernel), std::string::npos) << kernel << " missing from\n" << printed;
  }
  EXPECT_NE(printed.find("per kernel:"), std::string::npos) << printed;
}

INSTANTIATE_TEST_SUITE_P(All, DeviceRecordingTest, testing::every_device(), testing::device_param_name);

}  // namespace
}  // namespace crossgpu
