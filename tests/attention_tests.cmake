# RoPE and attention (kernels/ops_attention.hpp): every device against the reference, and the
# errors of bad inputs.
crossgpu_test(test_ops_attention
  test_ops_attention.cpp
  test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)
