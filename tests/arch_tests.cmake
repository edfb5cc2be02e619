# The architectures beyond llama (issue 18): their ops on every device against the reference.
crossgpu_test(test_ops_arch
  test_ops_arch.cpp
  test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)
# Each architecture's greedy tokens on every device (recorded decode and op by op) against an
# independent double-precision forward pass, its keys, and hostile files.
crossgpu_test(test_llm_arch test_llm_arch.cpp support/reference_forward.cpp LIBS crossgpu_llm LABELS model)
set_property(TEST test_llm_arch APPEND PROPERTY ENVIRONMENT
  "CROSSGPU_ARCH_ORACLE=${CMAKE_CURRENT_SOURCE_DIR}/arch_oracle/expected_llama_cpp.json")
# Writes every architecture case's model for the llama.cpp oracle (make check-llama-cpp-arch).
add_executable(crossgpu-arch-models support/arch_models_main.cpp)
target_link_libraries(crossgpu-arch-models PRIVATE crossgpu_llm)
target_include_directories(crossgpu-arch-models PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
# Every architecture x every weight type: greedy tokens against the double forward pass (every
# combination on the CPU device, one architecture per type on Vulkan), and log-probabilities along
# llama.cpp's greedy path within a stated tolerance of llama.cpp's (make check-llama-cpp-arch
# records tests/arch_oracle/expected_matrix_llama_cpp.json).
crossgpu_test(test_llm_arch_types test_llm_arch_types.cpp support/reference_forward.cpp LIBS crossgpu_llm LABELS model)
set_property(TEST test_llm_arch_types APPEND PROPERTY ENVIRONMENT
  "CROSSGPU_ARCH_MATRIX_ORACLE=${CMAKE_CURRENT_SOURCE_DIR}/arch_oracle/expected_matrix_llama_cpp.json")
