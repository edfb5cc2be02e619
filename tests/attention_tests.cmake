# RoPE and attention (kernels/ops_attention.hpp): every device against the reference, and the
# errors of bad inputs.
crossgpu_test(test_ops_attention
  test_ops_attention.cpp
  test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)

# The remote-dispatch bounds rules of these kernels (cluster/kernel_bounds_attention.cpp).
if(CROSSGPU_WITH_NETWORK)
  crossgpu_test(test_kernel_bounds_attention
    test_kernel_bounds_attention.cpp
    LIBS crossgpu_cluster_wire LABELS cluster)
endif()
