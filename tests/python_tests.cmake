# The Python binding's pytest suite against the real library (Debian's python3 + numpy + pytest).
add_test(NAME test_python_binding
  COMMAND ${Python_EXECUTABLE} -m pytest -q -p no:cacheprovider ${PROJECT_SOURCE_DIR}/bindings/python/tests)
set_tests_properties(test_python_binding PROPERTIES LABELS bindings TIMEOUT 600
  ENVIRONMENT "PYTHONPATH=${CMAKE_BINARY_DIR}/python;CROSSGPU_VULKAN_VALIDATION=1;XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache")
