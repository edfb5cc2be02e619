# The C ABI from a plain C program linked against the shared library.
add_executable(test_capi capi/test_capi.c)
set_target_properties(test_capi PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON)
target_link_libraries(test_capi PRIVATE crossgpu_c m)
add_test(NAME test_capi COMMAND test_capi)
set_tests_properties(test_capi PROPERTIES LABELS capi TIMEOUT 300
  ENVIRONMENT "CROSSGPU_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache")
