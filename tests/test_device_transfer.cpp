// Data movement: host<->device round trips (sizes that straddle word, page and staging-chunk
// boundaries, at non-zero offsets), device copies, copies across devices, events and ordering.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "device/device.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"

namespace crossgpu {
namespace {

using testing::random_bytes;

constexpr std::uint64_t MiB = 1ull << 20;

// Uploads `data` at `offset` into a buffer of offset+size+tail bytes and downloads it back.
void expect_round_trip(Device& device, std::uint64_t size, std::uint64_t offset,
                       std::uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "size " << size << " at offset " << offset);
  const auto data = random_bytes(size, seed);
  Buffer buffer = device.allocate(offset + size + 5);
  device.stream().upload(buffer, offset, std::span<const std::byte>(data)).wait();
  std::vector<std::byte> back(size);
  device.stream().download(buffer, offset, back).wait();
  EXPECT_TRUE(back == data) << "data differs after the round trip";
}

class DeviceTransferTest : public testing::PerDeviceTest {
 protected:
};

TEST_P(DeviceTransferTest, RoundTripsAtOddSizes) {
  std::uint32_t seed = 10;
  const std::uint64_t sizes[] = {1, 3, 4, 4095, 4097, MiB + 3};
  for (std::uint64_t size : sizes) {
    expect_round_trip(device(), size, 0, seed++);
  }
}

TEST_P(DeviceTransferTest, RoundTripsAtNonZeroOffsets) {
  std::uint32_t seed = 20;
  const std::uint64_t offsets[] = {1, 3, 4, 4093, MiB + 1};
  const std::uint64_t sizes[] = {1, 7, 4097};
  for (std::uint64_t offset : offsets) {
    for (std::uint64_t size : sizes) expect_round_trip(device(), size, offset, seed++);
  }
}

// Larger than any staging chunk a backend uses, so the chunked path runs.
TEST_P(DeviceTransferTest, RoundTripOf100MiBPlus7IsChunkedCorrectly) {
  expect_round_trip(device(), 100 * MiB + 7, 13, 30);
}

TEST_P(DeviceTransferTest, PartialDownloadsSeeTheRightBytes) {
  const auto data = random_bytes(10'000, 40);
  Buffer buffer = device().allocate(data.size());
  device().stream().upload(buffer, 0, std::span<const std::byte>(data));
  std::vector<std::byte> middle(1234), last(1);
  device().stream().download(buffer, 4321, middle);
  Event done = device().stream().download(buffer, data.size() - 1, last);
  done.wait();
  EXPECT_TRUE(std::equal(middle.begin(), middle.end(), data.begin() + 4321));
  EXPECT_EQ(last[0], data.back());
}

TEST_P(DeviceTransferTest, DeviceCopyWithinAndAcrossBuffers) {
  const auto data = random_bytes(MiB + 9, 50);
  Buffer a = device().allocate(data.size());
  Buffer b = device().allocate(data.size() + 100);
  Stream& stream = device().stream();
  stream.upload(a, 0, std::span<const std::byte>(data));
  stream.copy(a, 5, b, 99, data.size() - 5);
  stream.copy(a, 0, a, MiB, 9);  // disjoint ranges of one buffer
  std::vector<std::byte> from_b(data.size() - 5), from_a(data.size());
  stream.download(b, 99, from_b);
  stream.download(a, 0, from_a);
  stream.synchronize();
  EXPECT_TRUE(std::equal(from_b.begin(), from_b.end(), data.begin() + 5));
  EXPECT_TRUE(std::equal(from_a.begin() + MiB, from_a.end(), data.begin()));
  EXPECT_TRUE(std::equal(from_a.begin(), from_a.begin() + MiB, data.begin()));
}

TEST_P(DeviceTransferTest, OverlappingCopyInOneBufferIsRejected) {
  Buffer a = device().allocate(100);
  EXPECT_TRUE(testing::throws_errc([&] { device().stream().copy(a, 0, a, 10, 20); },
                                   Errc::invalid_argument, "overlap"));
}

TEST_P(DeviceTransferTest, ZeroByteTransfersAreCompleteNoOps) {
  Buffer a = device().allocate(16);
  Stream& stream = device().stream();
  EXPECT_TRUE(stream.upload(a, 16, std::span<const std::byte>()).ready());
  EXPECT_TRUE(stream.download(a, 16, std::span<std::byte>()).ready());
  EXPECT_TRUE(stream.copy(a, 0, a, 8, 0).ready());
}

// Upload, copy and download recorded back to back without a wait: the stream's order alone
// must make the download see the copy, which must see the upload.
TEST_P(DeviceTransferTest, StreamOrdersWorkWithoutWaits) {
  const auto data = random_bytes(3 * MiB + 1, 60);
  Buffer a = device().allocate(data.size());
  Buffer b = device().allocate(data.size());
  std::vector<std::byte> back(data.size());
  Stream& stream = device().stream();
  stream.upload(a, 0, std::span<const std::byte>(data));
  stream.copy(a, 0, b, 0, data.size());
  Event done = stream.download(b, 0, back);
  stream.flush();
  done.wait();
  EXPECT_TRUE(done.ready());
  EXPECT_TRUE(back == data);
}

TEST_P(DeviceTransferTest, RepeatedUploadsToOneBufferKeepTheLast) {
  Buffer a = device().allocate(4096);
  Stream& stream = device().stream();
  std::vector<std::vector<std::byte>> versions;
  for (std::uint32_t i = 0; i < 8; ++i) versions.push_back(random_bytes(4096, 70 + i));
  for (const auto& v : versions) stream.upload(a, 0, std::span<const std::byte>(v));
  std::vector<std::byte> back(4096);
  stream.download(a, 0, back);
  stream.synchronize();
  EXPECT_TRUE(back == versions.back());
}

TEST_P(DeviceTransferTest, EventsBecomeReadyAndWaitIsIdempotent) {
  EXPECT_TRUE(Event().ready());
  Event().wait();
  const auto data = random_bytes(MiB, 80);
  Buffer a = device().allocate(data.size());
  Event uploaded = device().stream().upload(a, 0, std::span<const std::byte>(data));
  uploaded.wait();
  EXPECT_TRUE(uploaded.ready());
  uploaded.wait();
  const Event copy = uploaded;  // events are shared views of one point in the timeline
  EXPECT_TRUE(copy.ready());
}

TEST_P(DeviceTransferTest, SecondStreamWorksIndependently) {
  std::unique_ptr<Stream> stream = device().create_stream();
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(&stream->device(), &device());
  const auto data = random_bytes(4097, 90);
  Buffer a = device().allocate(data.size());
  stream->upload(a, 0, std::span<const std::byte>(data));
  std::vector<std::byte> back(data.size());
  stream->download(a, 0, back);
  stream->synchronize();
  EXPECT_TRUE(back == data);
}

TEST_P(DeviceTransferTest, TypedUploadAndDownloadHelpers) {
  std::vector<float> values(1000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * static_cast<float>(i);
  Buffer a = device().allocate(values.size() * sizeof(float) + 8);
  device().stream().upload(a, std::span<const float>(values), 8);
  std::vector<float> back(values.size());
  device().stream().download(a, std::span(back), 8).wait();
  EXPECT_EQ(back, values);
}

TEST_P(DeviceTransferTest, CopyBetweenDevicesOnOneDeviceIsADeviceCopy) {
  const auto data = random_bytes(5000, 100);
  Buffer a = device().allocate(data.size());
  Buffer b = device().allocate(data.size());
  device().stream().upload(a, 0, std::span<const std::byte>(data)).wait();
  copy_between_devices(a, 0, b, 0, data.size());
  std::vector<std::byte> back(data.size());
  device().stream().download(b, 0, back).wait();
  EXPECT_TRUE(back == data);
}

INSTANTIATE_TEST_SUITE_P(All, DeviceTransferTest, testing::every_device(),
                         testing::device_param_name);

// Every ordered pair of distinct devices (lavapipe -> CPU and CPU -> lavapipe in CI).
// Indices into testing::devices(), for the reason given at testing::PerDeviceTest.
using DevicePair = std::pair<std::size_t, std::size_t>;

std::vector<DevicePair> device_pairs() {
  std::vector<DevicePair> pairs;
  for (std::size_t a = 0; a < testing::devices().size(); ++a) {
    for (std::size_t b = 0; b < testing::devices().size(); ++b) {
      if (a != b) pairs.emplace_back(a, b);
    }
  }
  return pairs;
}

class CrossDeviceTest : public ::testing::TestWithParam<DevicePair> {
 protected:
  Device* from = testing::devices().at(GetParam().first).get();
  Device* to = testing::devices().at(GetParam().second).get();
};

// Above the 16 MiB staging chunk of copy_between_devices, with offsets on both sides, so the
// double-buffered loop runs more than one round and its last chunk is partial.
TEST_P(CrossDeviceTest, CopyBetweenDevicesMovesEveryByte) {
  const auto data = random_bytes(40 * MiB + 5, 110);
  Buffer src = from->allocate(data.size() + 3);
  Buffer dst = to->allocate(data.size() + 11);
  from->stream().upload(src, 3, std::span<const std::byte>(data)).wait();
  copy_between_devices(src, 3, dst, 11, data.size());
  std::vector<std::byte> back(data.size());
  to->stream().download(dst, 11, back).wait();
  EXPECT_TRUE(back == data);
}

TEST_P(CrossDeviceTest, SmallCopyAndBoundsAreChecked) {
  Buffer src = from->allocate(7);
  Buffer dst = to->allocate(7);
  const auto data = random_bytes(7, 120);
  from->stream().upload(src, 0, std::span<const std::byte>(data)).wait();
  copy_between_devices(src, 0, dst, 0, 7);
  std::vector<std::byte> back(7);
  to->stream().download(dst, 0, back).wait();
  EXPECT_TRUE(back == data);
  EXPECT_TRUE(testing::throws_errc([&] { copy_between_devices(src, 1, dst, 0, 7); },
                                   Errc::out_of_range, "copy source"));
  EXPECT_TRUE(testing::throws_errc([&] { copy_between_devices(src, 0, dst, 1, 7); },
                                   Errc::out_of_range, "copy destination"));
}

TEST_P(CrossDeviceTest, StreamCopyAcrossDevicesIsWrongDevice) {
  Buffer src = from->allocate(64);
  Buffer dst = to->allocate(64);
  EXPECT_TRUE(testing::throws_errc([&] { from->stream().copy(src, 0, dst, 0, 64); },
                                   Errc::wrong_device, to->properties().name));
}

std::string pair_name(const ::testing::TestParamInfo<DevicePair>& info) {
  return testing::device_test_name(testing::devices().at(info.param.first)) + "_to_" +
         testing::device_test_name(testing::devices().at(info.param.second));
}

INSTANTIATE_TEST_SUITE_P(Pairs, CrossDeviceTest, ::testing::ValuesIn(device_pairs()), pair_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CrossDeviceTest);

}  // namespace
}  // namespace crossgpu
