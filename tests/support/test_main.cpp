// gtest main for every crossgpu test: fails the running test when the Vulkan validation layers
// reported anything during it, and requires that at least one Vulkan device exists unless
// CROSSGPU_ALLOW_NO_VULKAN=1 (CI has lavapipe, so a missing Vulkan device is an install bug).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "device/vulkan/vulkan_backend.hpp"
#include "support/test_devices.hpp"

namespace {

int validation_failures = 0;

// Runs after each test; messages are printed with the test's name and fail the whole binary
// (a failure added from a listener would not reliably be attributed to the test).
class ValidationGuard : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& test) override {
    for (const std::string& message : crossgpu::vulkan::take_validation_messages()) {
      std::fprintf(stderr, "VULKAN VALIDATION in %s.%s: %s\n", test.test_suite_name(),
                   test.name(), message.c_str());
      ++validation_failures;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new ValidationGuard);
  const char* allow = std::getenv("CROSSGPU_ALLOW_NO_VULKAN");
  if (crossgpu::testing::vulkan_devices().empty() && !(allow && std::string(allow) == "1")) {
    std::fprintf(stderr,
                 "no Vulkan device found (lavapipe is expected: run scripts/install-deps.sh); "
                 "set CROSSGPU_ALLOW_NO_VULKAN=1 to run on the CPU device alone\n");
    for (const auto& warning : crossgpu::testing::registry().warnings()) {
      std::fprintf(stderr, "  %s\n", warning.c_str());
    }
    return 1;
  }
  const int result = RUN_ALL_TESTS();
  for (const std::string& message : crossgpu::vulkan::take_validation_messages()) {
    std::fprintf(stderr, "VULKAN VALIDATION after the tests: %s\n", message.c_str());
    ++validation_failures;
  }
  if (validation_failures > 0) {
    std::fprintf(stderr, "%d Vulkan validation message(s): failing\n", validation_failures);
    return 1;
  }
  return result;
}
