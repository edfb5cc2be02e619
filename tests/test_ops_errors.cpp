// Bad inputs: each is rejected with its error code and a message naming the op and operand,
// before anything is enqueued (the output is left untouched).
#include <gtest/gtest.h>

#include <limits>

#include "device/cpu/cpu_device.hpp"
#include "kernels/ops.hpp"
#include "support/test_devices.hpp"
#include "support/test_support.hpp"
#include "test_ops_support.hpp"

namespace crossgpu {
namespace {

using testing::throws_errc;

class OpsErrorTest : public testing::DeviceOpsTest {
 protected:
  void SetUp() override {
    a = upload(std::vector<float>(16, 1.0f));
    b = upload(std::vector<float>(16, 2.0f));
    out = upload(std::vector<float>(16, 7.0f));
  }
  // The output still holds its initial 7s: nothing ran.
  void expect_untouched() { EXPECT_EQ(download<float>(out, 16), std::vector<float>(16, 7.0f)); }

  Buffer a, b, out;
};

TEST_P(OpsErrorTest, OffsetsMustBeWholeElements) {
  EXPECT_TRUE(throws_errc([&] { ops::add(stream(), {a, 2}, b, out, 4); }, Errc::misaligned,
                          "ops::add: operand 'a'"));
  EXPECT_TRUE(throws_errc([&] { ops::scale(stream(), a, {out, 3}, 4, 2.0f); },
                          Errc::misaligned, "operand 'out'"));
  // f16 elements are 2 bytes: offset 2 is fine for them, 3 is not.
  EXPECT_TRUE(throws_errc(
      [&] { ops::matvec(stream(), {a, 3}, b, out, 2, 2, ops::DType::f16); }, Errc::misaligned,
      "f16"));
  expect_untouched();
}

TEST_P(OpsErrorTest, SizesMustFitTheBuffers) {
  EXPECT_TRUE(throws_errc([&] { ops::add(stream(), a, b, out, 18); }, Errc::out_of_range,
                          "holds 68 bytes"));
  EXPECT_TRUE(throws_errc([&] { ops::add(stream(), a, {b, 8}, out, 16); }, Errc::out_of_range,
                          "operand 'b'"));
  EXPECT_TRUE(throws_errc([&] { ops::copy(stream(), {a, 1000}, out, 0); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { ops::matmul(stream(), a, b, out, {4, 5, 4}); },
                          Errc::out_of_range, "operand 'b'"));
  EXPECT_TRUE(throws_errc([&] { ops::matvec(stream(), a, b, out, 5, 4); }, Errc::out_of_range,
                          "operand 'a'"));
  EXPECT_TRUE(throws_errc([&] { ops::rms_norm(stream(), a, b, out, 1, 18); },
                          Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { ops::sum(stream(), a, {out, 68}, 4); }, Errc::out_of_range,
                          "operand 'out'"));
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() / 2;
  EXPECT_TRUE(throws_errc([&] { ops::fill(stream(), out, huge, 0.0f); }, Errc::out_of_range));
  EXPECT_TRUE(throws_errc([&] { ops::softmax(stream(), a, out, huge, huge); }, Errc::out_of_range));
  // A reference claiming more than was allocated is checked against the allocation itself.
  BufferRef forged = out.ref();
  forged.size = 1 << 20;
  EXPECT_TRUE(throws_errc([&] { ops::fill(stream(), forged, 1000, 0.0f); }, Errc::out_of_range,
                          "operand 'out'"));
  expect_untouched();
}

TEST_P(OpsErrorTest, BuffersMustBelongToTheStreamsDevice) {
  const auto other = make_cpu_device(1);
  Buffer foreign = other->allocate(64);
  EXPECT_TRUE(throws_errc([&] { ops::add(stream(), a, foreign, out, 4); }, Errc::wrong_device,
                          "operand 'b'"));
  EXPECT_TRUE(throws_errc([&] { ops::fill(other->stream(), out, 4, 0.0f); }, Errc::wrong_device));
  expect_untouched();
}

TEST_P(OpsErrorTest, FreedAndEmptyBuffersAreRejected) {
  Buffer doomed = device().allocate(64);
  const BufferRef stale = doomed.ref();
  doomed.reset();
  EXPECT_TRUE(throws_errc([&] { ops::add(stream(), a, stale, out, 4); }, Errc::freed_handle,
                          "operand 'b'"));
  EXPECT_TRUE(throws_errc([&] { ops::silu(stream(), ops::TensorRef{}, out, 4); },
                          Errc::freed_handle));
  expect_untouched();
}

TEST_P(OpsErrorTest, OutputsMayOnlyOverlapInputsExactly) {
  EXPECT_TRUE(throws_errc([&] { ops::add(stream(), out, b, {out, 4}, 8); },
                          Errc::invalid_argument, "overlaps input 'a'"));
  EXPECT_TRUE(throws_errc([&] { ops::copy(stream(), out, out, 8); }, Errc::invalid_argument,
                          "cannot run in place"));
  EXPECT_TRUE(throws_errc([&] { ops::matmul(stream(), out, b, out, {2, 2, 2}); },
                          Errc::invalid_argument));
  EXPECT_TRUE(throws_errc([&] { ops::sum(stream(), out, {out, 8}, 8); }, Errc::invalid_argument));
  expect_untouched();
}

TEST_P(OpsErrorTest, RmsNormRejectsABadEps) {
  EXPECT_TRUE(throws_errc([&] { ops::rms_norm(stream(), a, b, out, 1, 4, -1.0f); },
                          Errc::invalid_argument, "eps"));
  EXPECT_TRUE(throws_errc(
      [&] { ops::rms_norm(stream(), a, b, out, 1, 4, std::numeric_limits<float>::quiet_NaN()); },
      Errc::invalid_argument, "eps"));
  expect_untouched();
}

// A device without 16-bit storage (many mobile GPUs): f16 ops are refused up front. The device
// is a minimal fake, since every real device under test has the capability.
class NoF16Device final : public Device {
 public:
  NoF16Device() : Device(describe()) {}

 protected:
  class HostBuffer final : public BackendBuffer {
   public:
    explicit HostBuffer(std::uint64_t bytes) : data_(bytes) {}
    std::byte* host_pointer() noexcept override { return data_.data(); }

   private:
    std::vector<std::byte> data_;
  };
  // Nothing may reach the stream: the op must fail before it enqueues anything.
  class RefusingStream final : public Stream {
   public:
    using Stream::Stream;

   protected:
    Event do_upload(BackendBuffer&, std::uint64_t, std::span<const std::byte>) override {
      return refuse();
    }
    Event do_download(BackendBuffer&, std::uint64_t, std::span<std::byte>) override {
      return refuse();
    }
    Event do_copy(BackendBuffer&, std::uint64_t, BackendBuffer&, std::uint64_t,
                  std::uint64_t) override {
      return refuse();
    }
    Event do_dispatch(const KernelSpec&, std::span<const ResolvedRange>,
                      std::span<const std::byte>, Groups) override {
      return refuse();
    }
    void do_flush() override {}
    void do_synchronize() override {}

   private:
    static Event refuse() {
      ADD_FAILURE() << "work reached the stream of a device that cannot run it";
      return {};
    }
  };

  std::unique_ptr<BackendBuffer> do_allocate(std::uint64_t bytes, MemoryKind) override {
    return std::make_unique<HostBuffer>(bytes);
  }
  std::unique_ptr<Stream> do_create_stream() override {
    return std::make_unique<RefusingStream>(*this);
  }
  std::vector<MemoryHeap> do_query_heaps() override { return {}; }

 private:
  static DeviceProperties describe() {
    DeviceProperties props;
    props.id = "no-f16";
    props.name = "device without 16-bit storage";
    props.limits.max_allocation_bytes = 1 << 20;
    props.limits.max_storage_buffer_range = 1 << 20;
    props.limits.min_storage_buffer_offset_alignment = 16;
    props.caps.storage_16bit = false;
    return props;
  }
};

TEST(OpsUnsupported, F16NeedsSixteenBitStorage) {
  const auto device = std::make_shared<NoF16Device>();
  Buffer a = device->allocate(64);
  Buffer b = device->allocate(64);
  Buffer c = device->allocate(64);
  EXPECT_TRUE(throws_errc(
      [&] { ops::matmul(device->stream(), a, b, c, {2, 2, 2}, ops::DType::f16); },
                          Errc::unsupported, "f16"));
  EXPECT_TRUE(throws_errc(
      [&] { ops::matvec(device->stream(), a, b, c, 2, 2, ops::DType::f16); }, Errc::unsupported,
      "device without 16-bit storage"));
}

INSTANTIATE_TEST_SUITE_P(Devices, OpsErrorTest, testing::every_device(),
                         testing::device_param_name);

}  // namespace
}  // namespace crossgpu
