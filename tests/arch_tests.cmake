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
# Writes every architecture case's model for the llama.cpp oracle (make check-llama-cpp-arch),
# and with --real-vocab the models that carry a real vocabulary.
add_executable(crossgpu-arch-models support/arch_models_main.cpp support/real_vocab_models.cpp)
target_link_libraries(crossgpu-arch-models PRIVATE crossgpu_llm crossgpu_hf_tokenizer)
target_include_directories(crossgpu-arch-models PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
# Every architecture x every weight type: greedy tokens against the double forward pass (every
# combination on the CPU device, one architecture per type on Vulkan), and log-probabilities along
# llama.cpp's greedy path within a stated tolerance of llama.cpp's (make check-llama-cpp-arch
# records tests/arch_oracle/expected_matrix_llama_cpp.json).
crossgpu_test(test_llm_arch_types test_llm_arch_types.cpp support/reference_forward.cpp support/llama_cpp_logprobs.cpp
  LIBS crossgpu_llm nlohmann_json::nlohmann_json LABELS model)
set_property(TEST test_llm_arch_types APPEND PROPERTY ENVIRONMENT
  "CROSSGPU_ARCH_MATRIX_ORACLE=${CMAKE_CURRENT_SOURCE_DIR}/arch_oracle/expected_matrix_llama_cpp.json")
# Whole models with a real vocabulary (Llama 3.1's, Qwen 3's, Gemma 3's from the pinned packages in
# build/npm-test): a real chat prompt on every device against the double forward, and the prompt
# ids and log-probabilities against llama.cpp's (expected_real_vocab_llama_cpp.json, recorded by
# make check-llama-cpp-arch).
crossgpu_test(test_llm_arch_real_vocab test_llm_arch_real_vocab.cpp support/reference_forward.cpp
  support/real_vocab_models.cpp support/llama_cpp_logprobs.cpp LIBS crossgpu_llm crossgpu_hf_tokenizer LABELS model)
set_property(TEST test_llm_arch_real_vocab APPEND PROPERTY ENVIRONMENT
  "CROSSGPU_NPM_TEST_DIR=${CMAKE_BINARY_DIR}/npm-test"
  "CROSSGPU_REAL_VOCAB_ORACLE=${CMAKE_CURRENT_SOURCE_DIR}/arch_oracle/expected_real_vocab_llama_cpp.json")
