# The architectures beyond llama (issue 18): their ops on every device against the reference.
crossgpu_test(test_ops_arch
  test_ops_arch.cpp
  test_ops_support.cpp
  LIBS crossgpu_kernels LABELS kernels)
