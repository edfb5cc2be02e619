# Kernel and op tests. test_kernels: the f16 conversion, the reference, the kernel specs and the
# CPU kernels (no device needed beyond a CPU one). test_ops: every op on every device of
# crossgpu::testing::devices() (lavapipe and the CPU in CI) against the reference, with the
# Vulkan validation layers on, plus the errors of bad inputs.
crossgpu_test(test_kernels
  test_kernels_half.cpp
  test_kernels_reference.cpp
  test_kernels_cpu.cpp
  test_kernels_cpu_dot.cpp
  test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)
crossgpu_test(test_ops
  test_ops_support.cpp
  test_ops_elementwise.cpp
  test_ops_matrix.cpp
  test_ops_rows.cpp
  test_ops_reduce.cpp
  test_ops_errors.cpp
  LIBS crossgpu_kernels LABELS kernels)
