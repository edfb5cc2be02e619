// Bad input to the device layer: every mistake gives a typed crossgpu::Error with the right
// code and a message that names the problem, never a crash or a silent corruption.
#include <gtest/gtest.h>

#include <array>
#include <limits>

#include "device/device.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"

namespace crossgpu {
namespace {

using testing::throws_errc;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// A kernel that must never run: every test below fails validation before the backend sees it.
void never_runs(const CpuKernelArgs&) {
  ADD_FAILURE() << "an invalid dispatch reached the backend";
}

constexpr KernelSpec kTwoBuffers{
    .name = "validation_probe",
    .spirv = {},
    .binding_count = 2,
    .push_constant_bytes = 8,
    .local_size_x = 64,
    .cpu = never_runs,
};

class DeviceErrorTest : public testing::PerDeviceTest {
 protected:
  Stream& stream() { return device().stream(); }
  // A device other than this one, or null when there is a single device.
  Device* other_device() {
    for (const auto& d : testing::devices()) {
      if (d.get() != &device()) return d.get();
    }
    return nullptr;
  }
  std::array<std::byte, 8> push{};
};

TEST_P(DeviceErrorTest, UploadOutOfBounds) {
  Buffer buffer = device().allocate(100);
  std::vector<std::byte> host(10);
  EXPECT_TRUE(throws_errc([&] { stream().upload(buffer, 91, host); }, Errc::out_of_range,
                          "outside the buffer of 100 bytes"));
  EXPECT_TRUE(throws_errc([&] { stream().upload(buffer, 101, std::span(host.data(), 0)); },
                          Errc::out_of_range));
  std::vector<std::byte> big(101);
  EXPECT_TRUE(throws_errc([&] { stream().upload(buffer, 0, big); }, Errc::out_of_range));
  stream().upload(buffer, 90, host).wait();  // the last fitting range is fine
}

TEST_P(DeviceErrorTest, DownloadOutOfBounds) {
  Buffer buffer = device().allocate(100);
  std::vector<std::byte> host(10);
  EXPECT_TRUE(
      throws_errc([&] { stream().download(buffer, 95, host); }, Errc::out_of_range, "download"));
  EXPECT_TRUE(throws_errc([&] { stream().download(buffer, 1000, host); }, Errc::out_of_range));
}

// offset + size wraps around 2^64: a naive `offset + size <= buffer size` check would pass.
TEST_P(DeviceErrorTest, OffsetPlusSizeOverflowIsOutOfRange) {
  Buffer a = device().allocate(64);
  Buffer b = device().allocate(64);
  std::vector<std::byte> host(16);
  EXPECT_TRUE(throws_errc([&] { stream().upload(a, kMax - 7, host); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { stream().download(a, kMax, host); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { stream().copy(a, 1, b, 0, kMax); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { stream().copy(a, 0, b, kMax - 1, 2); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { stream().copy(a, kMax, b, 0, 1); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { copy_between_devices(a, kMax - 3, b, 0, 8); }, Errc::out_of_range));
}

TEST_P(DeviceErrorTest, CopyOutOfBounds) {
  Buffer a = device().allocate(64);
  Buffer b = device().allocate(32);
  EXPECT_TRUE(
      throws_errc([&] { stream().copy(a, 0, b, 0, 64); }, Errc::out_of_range, "copy destination"));
  EXPECT_TRUE(
      throws_errc([&] { stream().copy(b, 0, a, 0, 33); }, Errc::out_of_range, "copy source"));
}

TEST_P(DeviceErrorTest, BufferOfAnotherDeviceIsWrongDevice) {
  Device* other = other_device();
  if (!other) GTEST_SKIP() << "needs two devices";
  Buffer foreign = other->allocate(64);
  Buffer local = device().allocate(64);
  std::vector<std::byte> host(8);
  EXPECT_TRUE(throws_errc([&] { stream().upload(foreign, 0, host); }, Errc::wrong_device,
                          other->properties().name));
  EXPECT_TRUE(throws_errc([&] { stream().download(foreign, 0, host); }, Errc::wrong_device));
  EXPECT_TRUE(throws_errc([&] { stream().copy(foreign, 0, local, 0, 8); }, Errc::wrong_device));
  EXPECT_TRUE(throws_errc([&] { device().mapped(foreign); }, Errc::wrong_device));
  const std::array<BufferRange, 2> bindings{BufferRange{local}, BufferRange{foreign}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, bindings, push, {1}); },
                          Errc::wrong_device));
}

TEST_P(DeviceErrorTest, DispatchWithWrongBindingCount) {
  Buffer a = device().allocate(256);
  const std::array<BufferRange, 1> one{BufferRange{a}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, one, push, {1}); },
                          Errc::invalid_argument, "takes 2 buffers, 1 were given"));
  const std::array<BufferRange, 3> three{BufferRange{a}, BufferRange{a}, BufferRange{a}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, three, push, {1}); },
                          Errc::invalid_argument, "validation_probe"));
}

TEST_P(DeviceErrorTest, DispatchWithWrongPushSize) {
  Buffer a = device().allocate(256);
  const std::array<BufferRange, 2> bindings{BufferRange{a}, BufferRange{a}};
  std::array<std::byte, 4> short_push{};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, bindings, short_push, {1}); },
                          Errc::invalid_argument, "takes 8 bytes of parameters, 4 were given"));
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, bindings, {}, {1}); },
                          Errc::invalid_argument));
}

TEST_P(DeviceErrorTest, DispatchWithMisalignedBindingOffset) {
  const std::uint64_t align = device().properties().limits.min_storage_buffer_offset_alignment;
  if (align <= 1) GTEST_SKIP() << "device accepts any offset";
  Buffer a = device().allocate(4096);
  const std::array<BufferRange, 2> bindings{BufferRange{a, 0, 256}, BufferRange{a, align + 1, 256}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, bindings, push, {1}); },
                          Errc::misaligned, "alignment"));
}

TEST_P(DeviceErrorTest, DispatchWithBadBindingRange) {
  Buffer a = device().allocate(256);
  const std::array<BufferRange, 2> past_end{BufferRange{a}, BufferRange{a, 0, 257}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, past_end, push, {1}); },
                          Errc::out_of_range));
  const std::array<BufferRange, 2> empty{BufferRange{a}, BufferRange{a, 256}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, empty, push, {1}); },
                          Errc::out_of_range, "empty"));
  const std::array<BufferRange, 2> wrapping{BufferRange{a}, BufferRange{a, 0, kMax - 1}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, wrapping, push, {1}); },
                          Errc::out_of_range));
}

TEST_P(DeviceErrorTest, DispatchWithFreedOrEmptyBinding) {
  Buffer a = device().allocate(256);
  Buffer gone = device().allocate(256);
  const BufferRef stale = gone.ref();
  gone.reset();
  const std::array<BufferRange, 2> freed{BufferRange{a}, BufferRange{stale}};
  EXPECT_TRUE(
      throws_errc([&] { stream().dispatch(kTwoBuffers, freed, push, {1}); }, Errc::freed_handle));
  const std::array<BufferRange, 2> null{BufferRange{a}, BufferRange{}};
  EXPECT_TRUE(
      throws_errc([&] { stream().dispatch(kTwoBuffers, null, push, {1}); }, Errc::freed_handle));
}

TEST_P(DeviceErrorTest, DispatchBeyondWorkgroupLimitsInYZ) {
  const DeviceLimits& limits = device().properties().limits;
  if (limits.max_workgroup_count[1] == std::numeric_limits<std::uint32_t>::max()) {
    GTEST_SKIP() << "no y limit below 2^32";
  }
  Buffer a = device().allocate(256);
  const std::array<BufferRange, 2> bindings{BufferRange{a}, BufferRange{a}};
  const Groups too_tall{1, limits.max_workgroup_count[1] + 1, 1};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, bindings, push, too_tall); },
                          Errc::out_of_range, "workgroups"));
}

// A binding above the device's storage-buffer range cannot be bound in one descriptor.
TEST_P(DeviceErrorTest, DispatchWithBindingAboveStorageRange) {
  const DeviceLimits& limits = device().properties().limits;
  const std::uint64_t bytes = limits.max_storage_buffer_range + 16;
  if (bytes > limits.max_allocation_bytes || bytes > (1ull << 30)) {
    GTEST_SKIP() << "storage range too large to exceed in a test";
  }
  Buffer big = device().allocate(bytes);
  Buffer a = device().allocate(256);
  const std::array<BufferRange, 2> bindings{BufferRange{a}, BufferRange{big}};
  EXPECT_TRUE(throws_errc([&] { stream().dispatch(kTwoBuffers, bindings, push, {1}); },
                          Errc::out_of_range, "storage-buffer range"));
}

TEST_P(DeviceErrorTest, ErrorsLeaveTheStreamUsable) {
  Buffer a = device().allocate(64);
  std::vector<std::byte> host(64, std::byte{7});
  EXPECT_TRUE(throws_errc([&] { stream().upload(a, 1, host); }, Errc::out_of_range));
  stream().upload(a, 0, host);
  std::vector<std::byte> back(64);
  stream().download(a, 0, back).wait();
  EXPECT_EQ(back, host);
}

INSTANTIATE_TEST_SUITE_P(All, DeviceErrorTest, testing::every_device(), testing::device_param_name);

TEST(ErrcNames, AreStable) {
  EXPECT_EQ(errc_name(Errc::freed_handle), "freed_handle");
  EXPECT_EQ(errc_name(Errc::wrong_device), "wrong_device");
  EXPECT_EQ(errc_name(Errc::misaligned), "misaligned");
  EXPECT_EQ(static_cast<int>(Errc::internal), 13) << "codes cross the C ABI: append only";
  EXPECT_EQ(static_cast<int>(Errc::permission_denied), 14) << "codes cross the C ABI: append only";
}

TEST(FormatBytes, IsReadable) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(1ull << 30), "1.00 GiB");
}

}  // namespace
}  // namespace crossgpu
