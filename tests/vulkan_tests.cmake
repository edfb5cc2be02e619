# White-box tests of the Vulkan backend's parts (allocator, staging ring, timeline, pipeline
# cache, host-memory import, deferred frees) on every Vulkan device — lavapipe in CI.
crossgpu_test(test_vulkan_backend test_vulkan_backend.cpp LIBS crossgpu_kernels LABELS vulkan)
target_compile_definitions(test_vulkan_backend PRIVATE VULKAN_HPP_NO_CONSTRUCTORS)
