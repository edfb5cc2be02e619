# Device-layer tests: every test runs on each device of crossgpu::testing::devices() (lavapipe
# and the CPU device in CI) with the Vulkan validation layers on.
crossgpu_test(test_device_properties test_device_properties.cpp LABELS device)
