# The Java binding's JUnit 5 suite on the host JVM (JDK 17) against the real native library.
add_test(NAME test_java_binding COMMAND ${CROSSGPU_JAVA_TEST_COMMAND})
set_tests_properties(test_java_binding PROPERTIES LABELS bindings TIMEOUT 600
  ENVIRONMENT "XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/test-cache")
