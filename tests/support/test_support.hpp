// Helpers shared by every test suite: typed-error assertions, per-device parameterization and
// random test data.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "device/device.hpp"
#include "support/test_devices.hpp"

namespace crossgpu::testing {

// Success when `body` throws crossgpu::Error with `code` and a message containing `needle`.
// Any other outcome (no throw, another code, a foreign exception) is a failure that shows the
// message, so a wrong error is diagnosable from the test log alone.
template <typename F>
::testing::AssertionResult throws_errc(F&& body, Errc code, std::string_view needle = {}) {
  try {
    body();
  } catch (const Error& e) {
    const std::string_view message = e.what();
    if (e.code() != code) {
      return ::testing::AssertionFailure()
             << "expected Errc::" << errc_name(code) << ", got Errc::" << errc_name(e.code())
             << ": " << message;
    }
    if (message.find(needle) == std::string_view::npos) {
      return ::testing::AssertionFailure() << "message lacks \"" << needle << "\": " << message;
    }
    return ::testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-crossgpu exception: " << e.what();
  }
  return ::testing::AssertionFailure()
         << "did not throw (expected Errc::" << errc_name(code) << ")";
}

// Tests run on every device, parameterized by the device's index in testing::devices(), not by
// its shared_ptr: gtest keeps parameters alive until static destruction, after the Vulkan
// layers' globals are gone, and releasing the last reference to a device there crashes.
class PerDeviceTest : public ::testing::TestWithParam<std::size_t> {
 protected:
  static Device& device_at(std::size_t index) { return *devices().at(index); }
  Device& device() const { return device_at(GetParam()); }
};

inline auto every_device() { return ::testing::Range<std::size_t>(0, devices().size()); }

inline std::string device_param_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return device_test_name(devices().at(info.param));
}

// A seed for a randomized test: CROSSGPU_TEST_SEED when set (to replay a failure), else a fresh
// one. Recorded in the test's XML properties; put it in a SCOPED_TRACE so a failure prints it.
inline std::uint32_t test_seed() {
  std::uint32_t seed = 0;
  if (const char* fixed = std::getenv("CROSSGPU_TEST_SEED"); fixed && *fixed) {
    seed = static_cast<std::uint32_t>(std::strtoull(fixed, nullptr, 0));
  } else {
    seed = std::random_device{}();
  }
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

inline std::string seed_trace(std::uint32_t seed) {
  return "seed " + std::to_string(seed) + " (replay with CROSSGPU_TEST_SEED=" + std::to_string(seed) + ")";
}

// Deterministic per seed so that a failure reproduces.
inline std::vector<std::byte> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const std::uint32_t word = rng();
    std::memcpy(out.data() + i, &word, 4);
  }
  for (; i < n; ++i) out[i] = static_cast<std::byte>(rng());
  return out;
}

}  // namespace crossgpu::testing
