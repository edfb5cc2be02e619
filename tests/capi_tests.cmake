# The C ABI from plain C programs linked against the shared library. Each fails on any Vulkan
# validation message (registries are created with validation on).
foreach(name test_capi test_capi_cluster)
  add_executable(${name} capi/${name}.c)
  set_target_properties(${name} PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON)
  target_link_libraries(${name} PRIVATE crossgpu_c m)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS capi TIMEOUT 300
    ENVIRONMENT "CROSSGPU_CACHE_DIR=${CMAKE_BINARY_DIR}/test-cache;XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache")
endforeach()
# Without the network layers the cluster test checks that every cluster call says unsupported.
if(NOT CROSSGPU_WITH_NETWORK)
  target_compile_definitions(test_capi_cluster PRIVATE CG_TEST_NETWORK=0)
endif()
