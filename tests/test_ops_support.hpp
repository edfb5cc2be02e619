// Helpers shared by the kernel and op tests: fresh random inputs with a printed seed, host <->
// device transfers in one line, and comparisons that report the worst mismatches instead of
// millions of failures.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "device/device.hpp"
#include "kernels/reference/half.hpp"
#include "support/test_support.hpp"

namespace crossgpu::testing {

// Random numbers from a seed drawn from std::random_device, or from CROSSGPU_TEST_SEED when set
// (to replay a failure). splitmix64: fast enough to fill hundreds of MiB in a test.
class Rng {
 public:
  Rng();
  std::uint64_t seed() const noexcept { return seed_; }
  std::uint64_t next() noexcept;
  float uniform(float lo, float hi) noexcept;
  std::vector<float> floats(std::uint64_t n, float lo = -1.0f, float hi = 1.0f);
  // Halves rounded from uniform floats in [lo, hi).
  std::vector<reference::Half> halves(std::uint64_t n, float lo = -1.0f, float hi = 1.0f);

 private:
  std::uint64_t seed_;
  std::uint64_t state_;
};

// Parameterized over every device (by index: see PerDeviceTest); each test gets fresh random
// inputs and, when it fails, prints the seed that reproduces it.
class DeviceOpsTest : public PerDeviceTest {
 protected:
  void TearDown() override;

  Stream& stream() const { return device().stream(); }

  // A buffer holding `values` at byte offset `offset` (the bytes before it are garbage).
  template <typename T>
  Buffer upload(const std::vector<T>& values, std::uint64_t offset = 0) {
    Buffer buffer = device().allocate(offset + values.size() * sizeof(T) + 4);
    upload_into(buffer, std::as_bytes(std::span(values)), offset);
    return buffer;
  }
  template <typename T>
  std::vector<T> download(BufferRef buffer, std::uint64_t count, std::uint64_t offset = 0) {
    std::vector<T> out(count);
    stream().download(buffer, offset, std::as_writable_bytes(std::span(out))).wait();
    return out;
  }
  void upload_into(BufferRef buffer, std::span<const std::byte> bytes, std::uint64_t offset);

  Rng rng;
};

// Acceptable |got - want| for element i.
using Tolerance = std::function<double(std::size_t i)>;

// Fails (once) with the number of mismatches and the worst few, each with its index.
::testing::AssertionResult all_close(std::span<const float> got, std::span<const float> want,
                                     const Tolerance& tolerance);
::testing::AssertionResult all_equal(std::span<const float> got, std::span<const float> want);

// 2^-23, the spacing of f32 numbers in [1, 2).
inline constexpr double kEps32 = 1.1920928955078125e-07;

std::vector<float> to_floats(const std::vector<reference::Half>& halves);

}  // namespace crossgpu::testing
