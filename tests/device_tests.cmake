# Device-layer tests: parameterized tests run on each device of crossgpu::testing::devices()
# (lavapipe and the CPU device in CI) with the Vulkan validation layers on.
crossgpu_test(test_device_properties test_device_properties.cpp LABELS device)
crossgpu_test(test_device_memory test_device_memory.cpp LABELS device)
crossgpu_test(test_device_transfer test_device_transfer.cpp LABELS device)
crossgpu_test(test_device_errors test_device_errors.cpp LABELS device)
crossgpu_test(test_device_thread_pool test_device_thread_pool.cpp LABELS device)
crossgpu_test(test_device_dispatch test_device_dispatch.cpp LIBS crossgpu_kernels LABELS device)
crossgpu_test(test_device_recording test_device_recording.cpp LIBS crossgpu_kernels LABELS device)
# The same transfers through imported host memory (off by default: see vulkan_stream.cpp).
add_test(NAME test_device_transfer_host_import COMMAND test_device_transfer)
set_tests_properties(test_device_transfer_host_import PROPERTIES
  ENVIRONMENT "CROSSGPU_VULKAN_VALIDATION=1;CROSSGPU_VULKAN_HOST_IMPORT=1" LABELS device TIMEOUT 1500)
