# Weight formats and the ops that read them (kernels/ops_weights.hpp). test_kernels_quant: the
# formats on the host (hand-built blocks, round trips; test_kernels_quant_blocks: the formats of
# downloaded files, q4_1 q5_0 q5_1 q5_k iq4_nl bf16, built by hand). test_ops_weights: every op on every
# device against the reference, with the Vulkan validation layers on, plus bad inputs.
# test_kernel_bounds_weights: the remote-dispatch rules of these kernels, built from their one
# source file so that it runs without the network layers.
crossgpu_test(test_kernels_quant test_kernels_quant.cpp test_kernels_quant_blocks.cpp test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)
crossgpu_test(test_ops_weights test_ops_weights.cpp test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)
# test_ops_weights_few: the few-token weight matmul of batched decode steps (ops_weights_few.hpp).
crossgpu_test(test_ops_weights_few test_ops_weights_few.cpp test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)
crossgpu_test(test_kernel_bounds_weights test_kernel_bounds_weights.cpp
  ${PROJECT_SOURCE_DIR}/src/cluster/kernel_bounds_weights.cpp
  LIBS crossgpu_kernels LABELS kernels)
# GGUF tensors of every weight type: read back in place, truncated and hostile row sizes refused.
crossgpu_test(test_model_gguf_weight_types test_model_gguf_weight_types.cpp LIBS crossgpu_model crossgpu_kernels
  LABELS model)
# crossgpu's weight decoders against llama.cpp's own (its prebuilt libggml-base.so, loaded at run
# time) and llama.cpp's activation-quantized dot products measured: make check-ggml-quant.
add_executable(crossgpu-ggml-quant-check support/ggml_quant_check.cpp)
target_link_libraries(crossgpu-ggml-quant-check PRIVATE crossgpu_kernels ${CMAKE_DL_LIBS})
target_include_directories(crossgpu-ggml-quant-check PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
