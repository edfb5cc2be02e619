// The devices every test runs on: all Vulkan devices (lavapipe in CI) and the CPU device, from
// one registry with the validation layers on.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "device/registry.hpp"

namespace crossgpu::testing {

Registry& registry();
const std::vector<std::shared_ptr<Device>>& devices();
std::vector<std::shared_ptr<Device>> vulkan_devices();
// The CPU device (the one every host has); null if the registry has none.
std::shared_ptr<Device> cpu_device();

// For INSTANTIATE_TEST_SUITE_P: a readable, gtest-safe name per device.
std::string device_test_name(const std::shared_ptr<Device>& device);

}  // namespace crossgpu::testing
